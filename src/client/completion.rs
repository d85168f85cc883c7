//! A completion that fires exactly once: with the result given, or with a system error if it
//! is dropped unfired (the task that owned it panicked or was cancelled). This is what lets
//! the C ABI promise that every call ends in exactly one success or fail callback.

use crate::error::{ErrorCode, VoipError};

type Callback<T> = Box<dyn FnOnce(Result<T, VoipError>) + Send>;

pub struct Completion<T: 'static> {
    callback: Option<Callback<T>>,
}

impl<T: 'static> Completion<T> {
    pub fn new(callback: impl FnOnce(Result<T, VoipError>) + Send + 'static) -> Self {
        Self {
            callback: Some(Box::new(callback)),
        }
    }

    /// A completion that resolves a future: what the async Rust API awaits.
    pub fn channel() -> (
        Self,
        impl std::future::Future<Output = Result<T, VoipError>>,
    )
    where
        T: Send,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let completion = Self::new(move |result| {
            let _ = tx.send(result);
        });
        let future = async move {
            rx.await.unwrap_or_else(|_| {
                Err(VoipError::new(
                    ErrorCode::System,
                    "the session ended unexpectedly",
                ))
            })
        };
        (completion, future)
    }

    pub fn complete(mut self, result: Result<T, VoipError>) {
        if let Some(callback) = self.callback.take() {
            callback(result);
        }
    }
}

impl<T: 'static> Completion<T> {
    /// Drops the completion without firing it: for a call that reports its error synchronously.
    pub(crate) fn disarm(mut self) {
        self.callback.take();
    }
}

impl<T: 'static> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(callback) = self.callback.take() {
            callback(Err(VoipError::new(
                ErrorCode::System,
                "internal error: the call was dropped",
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn fires_once_with_the_result_or_with_a_system_error_when_dropped() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        Completion::<u8>::new(move |r| s.lock().unwrap().push(r)).complete(Ok(7));
        let s = seen.clone();
        drop(Completion::<u8>::new(move |r| s.lock().unwrap().push(r)));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], Ok(7));
        assert_eq!(seen[1].as_ref().unwrap_err().code, ErrorCode::System);
    }
}
