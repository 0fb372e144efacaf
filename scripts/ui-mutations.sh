#!/usr/bin/env bash
# scripts/ui-mutations.sh - sees each browser test (tests/ui/) fail against a page broken
# where that test looks: every mutation below is served to the browser instead of the real
# asset (UI_TEST_MUTATE), and the tests named with it must FAIL. Not part of scripts/test.sh
# (each mutation starts the Flink clusters again: about two minutes each); run it after
# changing the tests. Exits non-zero if a test passed against its broken page.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
NL=$'\n'

# name | tests (pytest -k) | mutations (asset|old|new, one per line; `old` has no `|`)
ONLY=${UI_MUTATIONS_ONLY:-}  # a word of the names to run, e.g. "refresh"
MUTATIONS=(
  "strings as markup|hostile|dom.js|node.append(child instanceof Node ? child : document.createTextNode(String(child)));|child instanceof Node ? node.append(child) : node.insertAdjacentHTML(\"beforeend\", String(child));${NL}dom.js|if (node.textContent !== value) node.textContent = value;|if (node.textContent !== value) node.innerHTML = value;"
  "no refresh after the first answer|cancelled or stopped_cluster|app.js|    setTimeout(refresh, page.refreshMs);|    if (!page.token) setTimeout(refresh, page.refreshMs);"
  "filters and sort ignored|filters_and_sort|table.js|  return rows.filter((row) =>|  return rows.filter((row) => true ||${NL}table.js|  keyed.sort((a, b) =>|  keyed.sort((a, b) => 0 &&"
  "job page without the exception|job_page|job.js|id: \"root-exception\", tabindex: 0 }, exception[\"root-exception\"])|id: \"root-exception\", tabindex: 0 }, \"\")"
  "no arrow keys|keyboard|app.js|    if (event.key !== \"ArrowDown\" && event.key !== \"ArrowUp\") return;|    return;"
  "no health in the table|every_sample_job or screenshot|table.js|      setText(r.reasons, job.reasons.join(\", \"));|      setText(r.reasons, \"\");${NL}table.js|      setText(r.health, healthMark(job.health) + job.health);|      setText(r.health, \"\");"
)

status=0
for entry in "${MUTATIONS[@]}"; do
  name=${entry%%|*}; rest=${entry#*|}
  tests=${rest%%|*}; spec=${rest#*|}
  [ -z "$ONLY" ] || [[ "$name" == *"$ONLY"* ]] || continue
  echo "ui-mutations: [$name] tests: $tests" >&2
  out=$(UI_TEST_MUTATE="$spec" "$ROOT/scripts/ui-test.sh" -k "$tests" 2>&1) ; rc=$?
  echo "$out" | grep -E "^(FAILED|ERROR|PASSED)|passed|failed" | sed 's/^/ui-mutations:   /' >&2
  if [ $rc = 0 ] || echo "$out" | grep -q "^PASSED"; then
    echo "ui-mutations: [$name] a test PASSED against the broken page" >&2; status=1
  elif ! echo "$out" | grep -q "^FAILED"; then
    echo "ui-mutations: [$name] no test ran to its end (setup failed?): run it again" >&2; status=1
  fi
done
exit $status
