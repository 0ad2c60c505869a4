//! Name/value pairs serialized as a JSON object in their original order (form fields, headers).
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Form fields (the providers' static names) or headers (names that may be built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    Static(Vec<(&'static str, String)>),
    Owned(Vec<(String, String)>),
}

impl Default for Fields {
    fn default() -> Self {
        Fields::Owned(Vec::new())
    }
}

impl Fields {
    pub fn is_empty(&self) -> bool {
        match self {
            Fields::Static(pairs) => pairs.is_empty(),
            Fields::Owned(pairs) => pairs.is_empty(),
        }
    }
}

fn serialize_pairs<S: Serializer, N: AsRef<str>>(
    serializer: S,
    pairs: &[(N, String)],
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k.as_ref(), v)?;
    }
    map.end()
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Fields::Static(pairs) => serialize_pairs(serializer, pairs),
            Fields::Owned(pairs) => serialize_pairs(serializer, pairs),
        }
    }
}
