//! The objects one watcher has seen, kept current from its events.

use std::collections::BTreeMap;

use kube::Resource;
use kube::runtime::watcher::Event;

/// `(namespace, name)`.
type Key = (String, String);

/// Objects of one watcher. A relist (`Init` .. `InitDone`) is buffered and swapped in whole
/// at `InitDone`, so objects deleted while the watch was down disappear then, and the
/// objects in view never drop to a half-listed set in between.
#[derive(Debug)]
pub struct SeenObjects<K> {
    objects: BTreeMap<Key, K>,
    relist: Option<BTreeMap<Key, K>>,
    listed: bool,
    failed: bool,
}

impl<K> Default for SeenObjects<K> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            relist: None,
            listed: false,
            failed: false,
        }
    }
}

impl<K: Resource> SeenObjects<K> {
    /// Applies one event, keeping only the objects `keep` accepts. Returns whether the
    /// objects in view changed.
    pub fn apply(&mut self, event: Event<K>, keep: impl Fn(&K) -> bool) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                match (self.relist.as_mut(), key(&object)) {
                    (Some(relist), Some(key)) if keep(&object) => {
                        relist.insert(key, object);
                    }
                    // An InitApply without its Init is a watcher bug; count it as an Apply.
                    (None, Some(_)) => return self.apply(Event::Apply(object), keep),
                    _ => {}
                }
                false
            }
            Event::InitDone => {
                self.objects = self.relist.take().unwrap_or_default();
                self.listed = true;
                self.failed = false;
                true
            }
            Event::Apply(object) => {
                let Some(key) = key(&object) else {
                    return false;
                };
                if keep(&object) {
                    self.objects.insert(key, object);
                    true
                } else {
                    // An object that stopped looking like a Flink cluster.
                    self.objects.remove(&key).is_some()
                }
            }
            Event::Delete(object) => key(&object)
                .and_then(|key| self.objects.remove(&key))
                .is_some(),
        }
    }

    /// The watcher failed; it retries on its own.
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// Forgets every object, e.g. when their resource type is gone. Returns whether any were held.
    pub fn clear(&mut self) -> bool {
        self.relist = None;
        !std::mem::take(&mut self.objects).is_empty()
    }

    /// Listed successfully at least once.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// Listed, or failed before its first list: either way nothing more to wait for.
    pub fn settled(&self) -> bool {
        self.listed || self.failed
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn objects(&self) -> impl Iterator<Item = &K> {
        self.objects.values()
    }
}

fn key<K: Resource>(object: &K) -> Option<Key> {
    let meta = object.meta();
    Some((
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn object(name: &str, keep: bool) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                labels: keep.then(|| [("keep".to_string(), "yes".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn kept(object: &ConfigMap) -> bool {
        object.metadata.labels.is_some()
    }

    fn names(store: &SeenObjects<ConfigMap>) -> Vec<String> {
        store
            .objects()
            .filter_map(|o| o.metadata.name.clone())
            .collect()
    }

    #[test]
    fn a_relist_replaces_the_objects_at_init_done() {
        let mut store = SeenObjects::default();
        assert!(!store.settled());
        assert!(!store.apply(Event::Init, kept));
        assert!(!store.apply(Event::InitApply(object("a", true)), kept));
        assert!(!store.apply(Event::InitApply(object("b", true)), kept));
        assert!(!store.apply(Event::InitApply(object("other", false)), kept));
        assert!(names(&store).is_empty(), "nothing before InitDone");
        assert!(store.apply(Event::InitDone, kept));
        assert!(store.listed() && store.settled());
        assert_eq!(names(&store), ["a", "b"]);

        // The watch restarts; `a` was deleted meanwhile. Until InitDone, both stay.
        store.apply(Event::Init, kept);
        store.apply(Event::InitApply(object("b", true)), kept);
        assert_eq!(names(&store), ["a", "b"]);
        assert!(store.apply(Event::InitDone, kept));
        assert_eq!(names(&store), ["b"]);
    }

    #[test]
    fn applies_and_deletes() {
        let mut store = SeenObjects::default();
        store.apply(Event::Init, kept);
        store.apply(Event::InitDone, kept);
        assert!(store.apply(Event::Apply(object("a", true)), kept));
        assert!(
            !store.apply(Event::Apply(object("x", false)), kept),
            "not kept, not there"
        );
        assert_eq!(names(&store), ["a"]);
        // `a` loses what made it interesting: it goes.
        assert!(store.apply(Event::Apply(object("a", false)), kept));
        assert!(names(&store).is_empty());
        store.apply(Event::Apply(object("b", true)), kept);
        assert!(store.apply(Event::Delete(object("b", true)), kept));
        assert!(!store.apply(Event::Delete(object("b", true)), kept));
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn failing_settles_and_clear_forgets() {
        let mut store = SeenObjects::default();
        store.fail();
        assert!(store.settled() && !store.listed());
        assert!(!store.clear());
        store.apply(Event::Apply(object("a", true)), kept);
        assert!(store.clear());
        assert_eq!(store.len(), 0);
    }
}
