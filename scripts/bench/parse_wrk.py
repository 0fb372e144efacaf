#!/usr/bin/env python3
"""parse_wrk.py - reads `wrk --latency` output on stdin, prints key=value figures."""
import re
import sys


def ms(value):
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
pct = {k: ms(v) for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M)}
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: (.*)", text)
requests = re.search(r"(\d+) requests in", text)
print("rps=%.0f p50_ms=%.3f p99_ms=%.3f requests=%s non2xx=%s socket_errors=%s" % (
    rps, pct["50"], pct["99"], requests.group(1) if requests else "?",
    non2xx.group(1) if non2xx else 0, sock.group(1).replace(" ", "") if sock else "none"))
