//! Where backups go: a directory, or an S3-compatible bucket (Linode Object Storage first).

use super::BackupError;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig, WriteMultipart};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A backup destination as configured (serialisable, so the CLI can hand it to the server).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TargetSpec {
    /// A local directory.
    File {
        /// The directory.
        dir: PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for none).
        prefix: String,
        /// The endpoint URL, given (never derived from the region).
        endpoint: Option<String>,
        /// The region name for signing.
        region: String,
        /// Access key id.
        key_id: Option<String>,
        /// Secret access key.
        secret: Option<String>,
        /// `bucket.host` style instead of `host/bucket`.
        virtual_host: bool,
    },
}

/// S3 settings that come from flags or the environment.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Endpoint URL.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Access key id.
    pub key_id: Option<String>,
    /// Secret.
    pub secret: Option<String>,
    /// Virtual-host style addressing.
    pub virtual_host: bool,
}

impl TargetSpec {
    /// Parses `file:DIR` or `s3://bucket/prefix`.
    pub fn parse(raw: &str, s3: &S3Options) -> Result<Self, BackupError> {
        if let Some(dir) = raw.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(BackupError::Target(
                    "file: needs a directory, e.g. file:/var/backups/fealty".into(),
                ));
            }
            // Made absolute here, where the user typed it: the spec may travel to a server
            // whose working directory is elsewhere.
            let dir = std::path::absolute(dir).map_err(|e| {
                BackupError::Target(format!("cannot resolve the directory {dir:?}: {e}"))
            })?;
            return Ok(Self::File { dir });
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(BackupError::Target(
                    "s3:// needs a bucket, e.g. s3://my-bucket/fealty".into(),
                ));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                key_id: s3.key_id.clone(),
                secret: s3.secret.clone(),
                virtual_host: s3.virtual_host,
            });
        }
        Err(BackupError::Target(format!(
            "{raw:?} is not a backup target: use file:/path/to/dir or s3://bucket/prefix"
        )))
    }

    /// A short description without secrets, for logs and status pages.
    pub fn describe(&self) -> String {
        match self {
            Self::File { dir } => format!("file:{}", dir.display()),
            Self::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("s3://{bucket}"),
            Self::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// An opened destination.
pub struct Target {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    describe: String,
}

/// One object in a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its name, without the prefix.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A one-line message that starts with what the owner can act on, then the detail.
fn store_err(target: &str) -> impl Fn(object_store::Error) -> BackupError + '_ {
    move |e| {
        // Every message from the object store passes here: its URLs may carry credentials.
        let detail = crate::redact::without_userinfo(&e.to_string()).replace('\n', " ");
        let cause = if matches!(e, object_store::Error::NotFound { .. }) {
            "not found"
        } else if detail.contains("NoSuchBucket") {
            "the bucket does not exist"
        } else if [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "403 Forbidden",
        ]
        .iter()
        .any(|p| detail.contains(p))
        {
            "access denied: check the access key and secret"
        } else if detail.contains("error sending request") || detail.contains("Connect") {
            "cannot reach the object store: check the endpoint and the network"
        } else {
            "the object store refused the request"
        };
        let short: String = detail.chars().take(300).collect();
        BackupError::Store(format!("{target}: {cause} ({short})"))
    }
}

impl Target {
    /// Opens a destination (creating a local directory if needed).
    pub fn open(spec: &TargetSpec) -> Result<Self, BackupError> {
        let describe = spec.describe();
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match spec {
            TargetSpec::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    BackupError::Target(format!("cannot create {}: {e}", dir.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(dir).map_err(store_err(&describe))?;
                (Arc::new(fs), String::new())
            }
            TargetSpec::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                key_id,
                secret,
                virtual_host,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_virtual_hosted_style_request(*virtual_host)
                    .with_client_options(
                        ClientOptions::new()
                            .with_timeout(Duration::from_secs(120))
                            .with_connect_timeout(Duration::from_secs(10))
                            .with_allow_http(
                                endpoint
                                    .as_deref()
                                    .is_some_and(|e| e.starts_with("http://")),
                            ),
                    )
                    .with_retry(RetryConfig {
                        max_retries: 4,
                        retry_timeout: Duration::from_secs(60),
                        ..RetryConfig::default()
                    });
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret {
                    b = b.with_secret_access_key(s);
                }
                let s3 = b.build().map_err(store_err(&describe))?;
                (Arc::new(s3), prefix.clone())
            }
        };
        Ok(Self {
            store,
            prefix,
            describe,
        })
    }

    fn path(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Uploads a local file as `name`, in parts, so large backups never sit in memory; `sent`
    /// counts the bytes.
    pub async fn upload(
        &self,
        local: &Path,
        name: &str,
        sent: &crate::progress::Progress,
    ) -> Result<(), BackupError> {
        let upload = self
            .store
            .put_multipart(&self.path(name))
            .await
            .map_err(store_err(&self.describe))?;
        // S3's smallest part, two in flight: the upload holds about 15 MiB at most.
        let mut w = WriteMultipart::new_with_chunk_size(upload, 5 * 1024 * 1024);
        let mut f = tokio::fs::File::open(local)
            .await
            .map_err(|e| BackupError::Io(format!("cannot read {}: {e}", local.display())))?;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .await
                .map_err(|e| BackupError::Io(e.to_string()))?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(2)
                .await
                .map_err(store_err(&self.describe))?;
            w.write(&buf[..n]);
            sent.inc(n as u64);
        }
        w.finish().await.map_err(store_err(&self.describe))?;
        Ok(())
    }

    /// Downloads `name` into a local file, chunk by chunk; `progress` counts the bytes.
    pub async fn download(
        &self,
        name: &str,
        local: &Path,
        progress: &crate::progress::Progress,
    ) -> Result<(), BackupError> {
        use futures_util::StreamExt;
        let got = self
            .store
            .get(&self.path(name))
            .await
            .map_err(store_err(&self.describe))?;
        let mut stream = got.into_stream();
        let mut f = tokio::fs::File::create(local)
            .await
            .map_err(|e| BackupError::Io(format!("cannot write {}: {e}", local.display())))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(store_err(&self.describe))?;
            f.write_all(&chunk)
                .await
                .map_err(|e| BackupError::Io(e.to_string()))?;
            progress.inc(chunk.len() as u64);
        }
        f.sync_all()
            .await
            .map_err(|e| BackupError::Io(e.to_string()))?;
        Ok(())
    }

    /// Every object under the prefix.
    pub async fn list(&self) -> Result<Vec<Object>, BackupError> {
        use futures_util::TryStreamExt;
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let metas: Vec<_> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(store_err(&self.describe))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_owned();
                Some(Object { name, size: m.size })
            })
            .collect())
    }

    /// The first `len` bytes of `name` (no more than it holds).
    pub async fn read_start(&self, name: &str, len: u64) -> Result<Vec<u8>, BackupError> {
        let bytes = self
            .store
            .get_range(&self.path(name), 0..len)
            .await
            .map_err(store_err(&self.describe))?;
        Ok(bytes.to_vec())
    }

    /// Whether `name` is there.
    pub async fn exists(&self, name: &str) -> Result<bool, BackupError> {
        match self.store.head(&self.path(name)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_err(&self.describe)(e)),
        }
    }

    /// Removes `name`.
    pub async fn delete(&self, name: &str) -> Result<(), BackupError> {
        self.store
            .delete(&self.path(name))
            .await
            .map_err(store_err(&self.describe))
    }

    /// The destination, for messages.
    pub fn describe(&self) -> &str {
        &self.describe
    }
}
