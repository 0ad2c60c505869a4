//! S3 and S3-compatible stores: SigV4 presigned URLs, POST policies and the server-side multipart calls.
pub mod client;
pub mod post_policy;
mod presign;
mod provider;
pub mod sigv4;

#[cfg(test)]
mod test_vectors;

pub use sigv4::Credentials;

/// How to reach one bucket.
#[derive(Debug, Clone)]
pub struct S3StoreConfig {
    /// `http(s)://host[:port]` without path or query; default `https://s3.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
    /// Region of the credential scope (`us-east-1`; S3-compatible servers often accept any).
    pub region: String,
    /// Bucket name.
    pub bucket: String,
    /// `true`: `{endpoint}/{bucket}/{key}`; `false`: `{scheme}://{bucket}.{host}/{key}` (virtual-hosted).
    pub path_style: bool,
    /// Key pair the store signs with.
    pub credentials: sigv4::Credentials,
}

/// A validated S3 store: signs URLs and POST policies (pure) and makes the server-side calls (async).
#[derive(Debug)]
pub struct S3Store {
    scheme: String,
    /// The `host` of every object: `endpoint_host`, or `{bucket}.{endpoint_host}` when virtual-hosted.
    object_host: String,
    /// The form POST URL (`{scheme}://{host}/` or `.../{bucket}/`), built once.
    bucket_url: String,
    bucket: String,
    path_style: bool,
    signer: sigv4::Signer,
}

impl S3Store {
    /// Validates the configuration; the error names the offending setting.
    pub fn new(cfg: S3StoreConfig) -> Result<S3Store, String> {
        validate_region(&cfg.region)?;
        validate_access_key(&cfg.credentials)?;
        let endpoint = cfg
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", cfg.region));
        let origin = super::common::parse_origin("s3 endpoint", &endpoint)?;
        let (scheme, endpoint_host) = (origin.scheme, origin.host);
        validate_bucket(&cfg.bucket, cfg.path_style)?;
        if !cfg.path_style && !origin.is_domain {
            return Err(format!(
                "s3 endpoint {endpoint:?}: virtual-hosted style needs a DNS name, not an IP address (set path_style)"
            ));
        }
        let object_host = if cfg.path_style {
            endpoint_host.clone()
        } else {
            format!("{}.{endpoint_host}", cfg.bucket)
        };
        let bucket_url = if cfg.path_style {
            format!("{scheme}://{object_host}/{}/", cfg.bucket)
        } else {
            format!("{scheme}://{object_host}/")
        };
        Ok(S3Store {
            scheme,
            object_host,
            bucket_url,
            bucket: cfg.bucket,
            path_style: cfg.path_style,
            signer: sigv4::Signer::new(cfg.credentials, &cfg.region, "s3"),
        })
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The region of the credential scope.
    pub fn region(&self) -> &str {
        self.signer.region()
    }

    /// The URL a form POST goes to, with its trailing `/`.
    pub fn bucket_url(&self) -> String {
        self.bucket_url.clone()
    }

    /// (`host` header value, raw unencoded path) of an object.
    pub(crate) fn object_location(&self, key: &str) -> (&str, String) {
        let path = if self.path_style {
            let mut path = String::with_capacity(self.bucket.len() + key.len() + 2);
            path.push('/');
            path.push_str(&self.bucket);
            path.push('/');
            path.push_str(key);
            path
        } else {
            let mut path = String::with_capacity(key.len() + 1);
            path.push('/');
            path.push_str(key);
            path
        };
        (&self.object_host, path)
    }
}

fn validate_region(region: &str) -> Result<(), String> {
    if super::common::valid_region(region, b"_") {
        Ok(())
    } else {
        Err(format!(
            "s3 region {region:?}: use letters, digits, '-' and '_'"
        ))
    }
}

fn validate_access_key(credentials: &sigv4::Credentials) -> Result<(), String> {
    super::common::check_key_pair(
        ("s3 access key", "s3 secret key"),
        &credentials.access_key,
        &credentials.secret_key,
    )
}

fn validate_bucket(bucket: &str, path_style: bool) -> Result<(), String> {
    // Path style puts the bucket in the path (S3-compatible servers allow `_` and capitals);
    // virtual-hosted style puts it in a DNS name.
    let valid = if path_style {
        !bucket.is_empty()
            && bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    } else {
        super::common::valid_dns_bucket(bucket, b".")
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "s3 bucket {bucket:?}: not a valid bucket name for this addressing style"
        ))
    }
}

#[cfg(test)]
mod tests;
