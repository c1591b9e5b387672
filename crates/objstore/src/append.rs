//! Appendable values as multipart uploads.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{MultipartUpload, PutMultipartOptions, PutOptions, PutPayload};
use orbax_kvstore::AppendFile;
use tokio::task::JoinHandle;

use crate::attempts::Attempts;
use crate::error::{classify, Error, Operation, Result};
use crate::store::Inner;

/// A value streamed into a multipart upload, created by
/// [`WritableStore::create_appendable`](orbax_kvstore::WritableStore::create_appendable).
///
/// Appends fill a buffer of `part_size` bytes; each full buffer becomes a part uploaded by a
/// task of the runtime while the writer goes on (at most `max_parts_in_flight` at once, so
/// memory stays bounded by about `(max_parts_in_flight + 1) * part_size`). The upload itself
/// is only started with the first full part: a value smaller than one part is written by
/// `finish` with a single PUT. Nothing is visible before `finish` returns.
pub(crate) struct MultipartAppend {
    inner: Arc<Inner>,
    path: Path,
    object: String,
    buffer: Vec<u8>,
    len: u64,
    upload: Option<Box<dyn MultipartUpload>>,
    in_flight: VecDeque<JoinHandle<Result<()>>>,
    /// Set once the upload was completed or aborted: nothing is left to clean up on drop.
    closed: bool,
}

impl fmt::Debug for MultipartAppend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartAppend")
            .field("object", &self.object)
            .field("len", &self.len)
            .field("started", &self.upload.is_some())
            .field("parts_in_flight", &self.in_flight.len())
            .finish()
    }
}

impl MultipartAppend {
    pub(crate) fn new(inner: Arc<Inner>, path: Path, object: String) -> Self {
        Self {
            inner,
            path,
            object,
            buffer: Vec::new(),
            len: 0,
            upload: None,
            in_flight: VecDeque::new(),
            closed: false,
        }
    }

    /// Starts uploading `part` (starting the multipart upload first if needed), after
    /// waiting for the oldest part if too many are in flight.
    fn send_part(&mut self, part: Bytes) -> Result<()> {
        if self.upload.is_none() {
            let inner = &self.inner;
            let upload = inner.run(Operation::Upload, &self.object, false, || {
                inner
                    .store
                    .put_multipart_opts(&self.path, PutMultipartOptions::default())
            })?;
            self.upload = Some(upload);
        }
        while self.in_flight.len() >= self.inner.max_parts_in_flight {
            self.wait_oldest()?;
        }
        let upload = self.upload.as_mut().expect("started above");
        // Parts are numbered when `put_part` is called, in call order, whatever order their
        // uploads finish in.
        let part = upload.put_part(PutPayload::from(part));
        let object = self.object.clone();
        self.in_flight
            .push_back(self.inner.runtime.handle().spawn(async move {
                let attempts = Attempts::default();
                attempts
                    .track(part)
                    .await
                    .map_err(|e| classify(Operation::Upload, &object, e, &attempts))
            }));
        Ok(())
    }

    fn wait_oldest(&mut self) -> Result<()> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match self.inner.runtime.block_on(task) {
            Ok(result) => result,
            Err(join_error) => Err(Error::Runtime {
                operation: Operation::Upload,
                object: self.object.clone(),
                message: join_error.to_string(),
            }),
        }
    }

    fn finish_inner(&mut self) -> Result<()> {
        if self.upload.is_none() {
            // Everything fits in one part: one PUT.
            let inner = &self.inner;
            let payload = PutPayload::from(Bytes::from(std::mem::take(&mut self.buffer)));
            inner.run(Operation::Upload, &self.object, true, || {
                inner
                    .store
                    .put_opts(&self.path, payload.clone(), PutOptions::default())
            })?;
            self.closed = true;
            return Ok(());
        }
        if !self.buffer.is_empty() {
            let last = Bytes::from(std::mem::take(&mut self.buffer));
            self.send_part(last)?;
        }
        while !self.in_flight.is_empty() {
            self.wait_oldest()?;
        }
        let inner = Arc::clone(&self.inner);
        let upload = self.upload.as_mut().expect("started");
        // `complete` is called once: the HTTP layer retries its request, and trying the
        // whole completion again could fail on an upload that was in fact completed.
        let attempts = Attempts::default();
        let result = inner
            .runtime
            .block_on(attempts.track(upload.complete()))
            .map_err(|e| classify(Operation::Upload, &self.object, e, &attempts));
        if result.is_ok() {
            self.closed = true;
        }
        result.map(|_| ())
    }

    /// Stops the parts in flight and abandons the upload (if started), waiting for it.
    fn abort_inner(&mut self) -> Result<()> {
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        self.buffer = Vec::new();
        self.closed = true;
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        let attempts = Attempts::default();
        let inner = &self.inner;
        inner
            .runtime
            .block_on(attempts.track(upload.abort()))
            .map_err(|e| classify(Operation::AbortUpload, &self.object, e, &attempts))
    }
}

impl AppendFile for MultipartAppend {
    fn append(&mut self, mut data: &[u8]) -> orbax_kvstore::Result<()> {
        let part_size = self.inner.part_size;
        self.len += data.len() as u64;
        while !data.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve_exact(part_size);
            }
            let take = (part_size - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == part_size {
                let part = Bytes::from(std::mem::take(&mut self.buffer));
                self.send_part(part)?;
            }
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn finish(mut self: Box<Self>) -> orbax_kvstore::Result<()> {
        let result = self.finish_inner();
        if result.is_err() {
            // Do not leave a half-uploaded object (stores bill for its parts).
            let _ = self.abort_inner();
        }
        Ok(result?)
    }

    fn abort(mut self: Box<Self>) -> orbax_kvstore::Result<()> {
        Ok(self.abort_inner()?)
    }
}

impl Drop for MultipartAppend {
    /// An upload neither finished nor aborted is abandoned in the background: dropping
    /// must not block, and a store keeps (and bills) the parts of an upload until it is
    /// aborted.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        if let Some(mut upload) = self.upload.take() {
            self.inner.runtime.handle().spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}
