//! Docker's error replies: `{"message": "..."}` with the status clients map to error kinds
//! (404 drives the CLI's pull-on-create, 409 a conflict, 400 bad input, 500 the rest).

use hyper::StatusCode;
use serde_json::json;

use super::http::{ApiResponse, json};
use crate::container::index::ContainerError;
use crate::container::lifecycle::LifecycleError;
use crate::container::start::StartError;
use crate::container::volumes::VolumeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("page not found")]
    NoRoute,
    #[error("request body larger than {} bytes", super::http::MAX_BODY)]
    TooLarge,
    #[error("{0}")]
    NotImplemented(String),
    /// Anything else, with the status its kind says and its whole chain as the message.
    #[error("{message}")]
    Failed { status: StatusCode, message: String },
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Failed { status, .. } => *status,
        }
    }

    pub fn response(&self) -> ApiResponse {
        json(self.status(), &json!({ "message": self.to_string() }))
    }

    /// A library error as Docker would answer it: the status from the first cause that says
    /// what kind of failure it is; the message is the whole chain on one line, Docker's way
    /// ("No such container: x").
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> ApiError {
        let mut chain = Vec::new();
        let mut status = None;
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            status = status.or_else(|| kind_of(e));
            chain.push(e.to_string().replace('\n', " "));
            cause = e.source();
        }
        let mut message = chain.join(": ");
        if let Some(rest) = message.strip_prefix("no such ") {
            message = format!("No such {rest}");
        }
        ApiError::Failed { status: status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), message }
    }
}

/// The status one error in a chain stands for, if it says.
fn kind_of(e: &(dyn std::error::Error + 'static)) -> Option<StatusCode> {
    if let Some(e) = e.downcast_ref::<ContainerError>() {
        return match e {
            ContainerError::NotFound(_) => Some(StatusCode::NOT_FOUND),
            ContainerError::NameInUse { .. } | ContainerError::WrongState { .. } | ContainerError::Ambiguous(_) => {
                Some(StatusCode::CONFLICT)
            }
            // Transparent wrappers: their inner error is not in the source chain.
            ContainerError::Store(inner) => kind_of(inner),
            ContainerError::Volume(inner) => kind_of(inner),
            ContainerError::Network(_) => None,
            _ => Some(StatusCode::BAD_REQUEST),
        };
    }
    if let Some(e) = e.downcast_ref::<LifecycleError>() {
        return match e {
            LifecycleError::Running | LifecycleError::AlreadyPaused(_) | LifecycleError::NotPaused(_) => {
                Some(StatusCode::CONFLICT)
            }
            LifecycleError::NotRunning(_) => Some(StatusCode::CONFLICT),
            LifecycleError::Container(inner) => kind_of(inner),
            LifecycleError::Start(inner) => kind_of(inner),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<StartError>() {
        return match e {
            StartError::Failed { .. } => Some(StatusCode::BAD_REQUEST),
            StartError::Container(inner) => kind_of(inner),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<crate::container::create::CreateError>() {
        use crate::container::create::CreateError;
        return match e {
            CreateError::Options(_) => Some(StatusCode::BAD_REQUEST),
            CreateError::Image(inner) => kind_of(inner),
            CreateError::Container(inner) => kind_of(inner),
            CreateError::ImageConfig(_) => None,
        };
    }
    if let Some(crate::image::ImageError::Store(inner)) = e.downcast_ref::<crate::image::ImageError>() {
        return kind_of(inner);
    }
    if let Some(e) = e.downcast_ref::<VolumeError>() {
        return match e {
            VolumeError::NotFound(_) => Some(StatusCode::NOT_FOUND),
            VolumeError::InUse { .. } => Some(StatusCode::CONFLICT),
            VolumeError::Store(inner) => kind_of(inner),
            _ => Some(StatusCode::BAD_REQUEST),
        };
    }
    if let Some(e) = e.downcast_ref::<StoreError>() {
        return match e {
            StoreError::ImageNotFound(_) => Some(StatusCode::NOT_FOUND),
            StoreError::Ambiguous(_) => Some(StatusCode::CONFLICT),
            _ => None,
        };
    }
    if e.downcast_ref::<crate::container::options::OptionsError>().is_some()
        || e.downcast_ref::<crate::image::reference::ReferenceError>().is_some()
    {
        return Some(StatusCode::BAD_REQUEST);
    }
    None
}

macro_rules! api_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> ApiError {
                ApiError::from_error(&e)
            }
        }
    )*};
}

api_error_from!(
    ContainerError,
    LifecycleError,
    StartError,
    VolumeError,
    StoreError,
    crate::image::ImageError,
    crate::container::create::CreateError,
    crate::container::options::OptionsError,
    crate::network::NetworkError
);

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::Failed { status: StatusCode::INTERNAL_SERVER_ERROR, message: format!("a request task failed: {e}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_get_dockers_status_and_words() {
        let e = ApiError::from(ContainerError::NotFound("web".into()));
        assert_eq!((e.status(), e.to_string()), (StatusCode::NOT_FOUND, "No such container: web".into()));
        let e = ApiError::from(ContainerError::from(StoreError::ImageNotFound("busybox:latest".into())));
        assert_eq!((e.status(), e.to_string()), (StatusCode::NOT_FOUND, "No such image: busybox:latest".into()));
        let e = ApiError::from(LifecycleError::Running);
        assert_eq!(e.status(), StatusCode::CONFLICT);
        let e = ApiError::from(VolumeError::InUse { name: "v".into(), containers: vec!["c".into()] });
        assert_eq!(e.status(), StatusCode::CONFLICT);
    }
}
