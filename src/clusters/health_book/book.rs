//! The health records of one cluster's jobs, kept in memory.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use super::record::JobHealthRecord;
use super::settings::HealthSettings;

/// The health records of one cluster's jobs, by jid.
#[derive(Debug, Default)]
pub struct HealthBook {
    settings: HealthSettings,
    /// Sorted by jid, found by binary search: a map would keep each jid a second time as
    /// its key (plus the map's spare slots), for every job of every cluster.
    records: RwLock<Vec<Arc<JobHealthRecord>>>,
}

impl HealthBook {
    pub fn new(settings: HealthSettings) -> Self {
        Self {
            settings,
            records: RwLock::new(Vec::new()),
        }
    }

    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }

    pub fn get(&self, jid: &str) -> Option<Arc<JobHealthRecord>> {
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        let at = records.binary_search_by(|r| r.jid.as_str().cmp(jid)).ok()?;
        Some(records[at].clone())
    }

    pub fn len(&self) -> usize {
        self.records.read().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn put(&self, record: JobHealthRecord) {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        match records.binary_search_by(|r| r.jid.cmp(&record.jid)) {
            Ok(at) => records[at] = Arc::new(record),
            Err(at) => records.insert(at, Arc::new(record)),
        }
    }

    /// Forgets the records of the jobs not in `keep`.
    pub(crate) fn retain(&self, keep: &HashSet<&str>) {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        records.retain(|r| keep.contains(r.jid.as_str()));
        if records.capacity() > 2 * records.len() {
            records.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(jid: &str, state: &str) -> JobHealthRecord {
        let mut record = JobHealthRecord::new(jid);
        record.observe_state(state);
        record
    }

    #[test]
    fn records_are_found_replaced_and_forgotten_by_jid() {
        let book = HealthBook::default();
        for jid in ["c", "a", "d", "b"] {
            book.put(record(jid, "RUNNING"));
        }
        book.put(record("b", "FAILED"));
        assert_eq!(book.len(), 4);
        assert_eq!(book.get("b").unwrap().state, "FAILED");
        assert_eq!(book.get("d").unwrap().state, "RUNNING");
        assert!(book.get("e").is_none());
        book.retain(&HashSet::from(["a", "d"]));
        assert_eq!(book.len(), 2);
        assert!(book.get("b").is_none() && book.get("c").is_none());
        assert_eq!(book.get("a").unwrap().jid, "a");
        assert_eq!(book.get("d").unwrap().jid, "d");
    }
}
