//! The health records of one cluster's jobs, kept in memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use super::record::JobHealthRecord;
use super::settings::HealthSettings;

/// The health records of one cluster's jobs, by jid.
#[derive(Debug, Default)]
pub struct HealthBook {
    settings: HealthSettings,
    records: RwLock<HashMap<String, Arc<JobHealthRecord>>>,
}

impl HealthBook {
    pub fn new(settings: HealthSettings) -> Self {
        Self {
            settings,
            records: RwLock::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }

    pub fn get(&self, jid: &str) -> Option<Arc<JobHealthRecord>> {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(jid)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.records.read().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn put(&self, record: JobHealthRecord) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(record.jid.clone(), Arc::new(record));
    }

    /// Forgets the records of the jobs not in `keep`.
    pub(crate) fn retain(&self, keep: &HashSet<&str>) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|jid, _| keep.contains(jid.as_str()));
    }
}
