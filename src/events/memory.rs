//! In-process event store for development: lost on restart, not shared between replicas.
use std::collections::HashSet;
use std::sync::Mutex;

use super::Recorded;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<String>,
    events: Vec<String>,
}

impl MemoryStore {
    pub fn record(&self, ids: &[String], event_json: String) -> Recorded {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let duplicate = ids.iter().any(|id| inner.seen.contains(id));
        inner.seen.extend(ids.iter().cloned());
        if duplicate {
            return Recorded::Duplicate;
        }
        inner.events.push(event_json);
        Recorded::New
    }

    /// Recorded events as JSON, oldest first.
    pub fn events(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .events
            .clone()
    }
}
