//! The error names: the contract between the step functions and the ASL (docs/design.md).
//!
//! Every failure of a step is one [`StepError`]; [`StepError::name`] is exactly the
//! `errorType` Step Functions matches in `Retry`/`Catch`.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

pub const NOT_READY: &str = "CarveOut.NotReady";
pub const INVALID_PLAN: &str = "CarveOut.InvalidPlan";
pub const CONFLICT: &str = "CarveOut.Conflict";
pub const RESOURCE_FAILED: &str = "CarveOut.ResourceFailed";
pub const ACCESS_DENIED: &str = "CarveOut.AccessDenied";
/// Every name a step can raise: what the ASL may match besides the platform's names.
pub const NAMES: [&str; 5] = [
    NOT_READY,
    INVALID_PLAN,
    CONFLICT,
    RESOURCE_FAILED,
    ACCESS_DENIED,
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StepError {
    /// Not ready yet: the state's Retry on this name is the poll loop.
    #[error("{0}")]
    NotReady(String),
    /// The plan is invalid or contradicts what exists; nothing was created.
    #[error("{0}")]
    InvalidPlan(String),
    /// Something exists that contradicts the plan (a route elsewhere, a changed action…).
    #[error("{0}")]
    Conflict(String),
    /// AWS reports a terminal failure, or a call failed for good after the SDK's retries.
    #[error("{0}")]
    ResourceFailed(String),
    /// A role cannot be assumed or a call is denied.
    #[error("{action} denied for {principal}: {message}")]
    AccessDenied {
        principal: String,
        action: String,
        message: String,
    },
}

impl StepError {
    pub fn name(&self) -> &'static str {
        match self {
            StepError::NotReady(_) => NOT_READY,
            StepError::InvalidPlan(_) => INVALID_PLAN,
            StepError::Conflict(_) => CONFLICT,
            StepError::ResourceFailed(_) => RESOURCE_FAILED,
            StepError::AccessDenied { .. } => ACCESS_DENIED,
        }
    }

    pub fn invalid_plan(message: impl Into<String>) -> Self {
        StepError::InvalidPlan(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        StepError::Conflict(message.into())
    }
}

impl From<StepError> for Diagnostic {
    fn from(err: StepError) -> Self {
        Diagnostic {
            error_type: err.name().to_string(),
            error_message: err.to_string(),
        }
    }
}

/// A failed AWS call, with the action named (`ec2:CreateRoute`) and AWS's error code.
///
/// Steps look at [`AwsFailure::is`] for the codes they handle (a duplicate that means
/// "already done", a not-found that means "not there"); everything else becomes a
/// [`StepError`] through `From`.
#[derive(Debug, Clone)]
pub struct AwsFailure {
    pub action: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub principal: String,
    /// No answer from AWS within the SDK's bounded retries (a timeout, a connection that
    /// failed): nothing is known to have failed, so the state retries later.
    pub transient: bool,
}

impl AwsFailure {
    /// AWS's error codes differ in case between services and moto
    /// (`InvalidVpcPeeringConnectionID.NotFound` vs `…Id.NotFound`): compare without case.
    pub fn is(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    pub fn is_any(&self, codes: &[&str]) -> bool {
        codes.iter().any(|c| self.is(c))
    }

    /// EC2's answer for an id it does not know (yet): `InvalidGroup.NotFound`,
    /// `InvalidInstanceID.NotFound`, `InvalidAMIID.NotFound`, `InvalidSnapshot.NotFound`…
    pub fn is_not_found(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.ends_with("NotFound"))
    }

    /// Throttling that outlasted the SDK's own retries (a busy account: other workloads
    /// use the same EC2 token buckets). Not a failure of the migration: the state retries
    /// later, which is safe because every step is idempotent.
    fn is_throttling(&self) -> bool {
        self.is_any(&[
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestThrottled",
            "RequestThrottledException",
            "SlowDown",
        ])
    }

    fn is_access_denied(&self) -> bool {
        self.is_any(&[
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "AuthFailure",
            "UnauthorizedException",
        ])
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.action, self.message),
            None => write!(f, "{} failed: {}", self.action, self.message),
        }
    }
}

impl From<AwsFailure> for StepError {
    fn from(failure: AwsFailure) -> Self {
        if failure.is_access_denied() {
            StepError::AccessDenied {
                principal: failure.principal.clone(),
                action: failure.action.to_string(),
                message: failure.message,
            }
        } else if failure.is_throttling() {
            StepError::NotReady(format!(
                "{failure} (throttled beyond the SDK's retries; the state retries later)"
            ))
        } else if failure.is("PendingVerification") {
            // A new account AWS is still verifying: nothing was done, and the answer changes
            // by itself (EC2 common client errors,
            // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
            StepError::NotReady(format!(
                "{failure} (the account is still being verified by AWS; the state retries later)"
            ))
        } else if failure.transient {
            let why = if failure.message.starts_with("no AWS credentials") {
                "credentials not available yet"
            } else {
                "no answer within the SDK's time bound"
            };
            StepError::NotReady(format!("{failure} ({why}; the state retries later)"))
        } else {
            StepError::ResourceFailed(failure.to_string())
        }
    }
}

/// For calls naming an id carveout itself created moments ago: EC2 is eventually
/// consistent, and such an id may answer `*.NotFound` for a while after its create call
/// returned (<https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>).
/// That answer is `CarveOut.NotReady`: the state retries within its bound (a mutating
/// state's 6 attempts over about 3 minutes, a poll's stage deadline), after which the
/// execution rolls back. Any other failure is mapped as usual.
pub trait FreshIdResultExt<T> {
    /// `what`: the resource in words (`the new security group sg-…`).
    fn fresh_id(self, what: &str) -> Result<T, StepError>;
}

impl<T> FreshIdResultExt<T> for Result<T, AwsFailure> {
    fn fresh_id(self, what: &str) -> Result<T, StepError> {
        self.map_err(|f| f.about_fresh_id(what))
    }
}

impl AwsFailure {
    /// [`FreshIdResultExt::fresh_id`] for a failure already in hand.
    pub fn about_fresh_id(self, what: &str) -> StepError {
        if self.is_not_found() {
            StepError::NotReady(format!(
                "{what} is not visible yet ({}: {}); EC2 is eventually consistent",
                self.code.as_deref().unwrap_or("NotFound"),
                self.message
            ))
        } else {
            self.into()
        }
    }
}

/// For Preflight's reads of ids the plan names: AWS's not-found answer about such an id is
/// the plan's error, not a failure of the read.
pub trait PlanIdResultExt<T> {
    /// `codes` answered (`InvalidSubnetID.NotFound`, …): `CarveOut.InvalidPlan` with the
    /// message `say` makes of the failure; any other failure as it is.
    fn plan_id(
        self,
        codes: &[&str],
        say: impl FnOnce(&AwsFailure) -> String,
    ) -> Result<T, StepError>;
}

impl<T> PlanIdResultExt<T> for Result<T, AwsFailure> {
    fn plan_id(
        self,
        codes: &[&str],
        say: impl FnOnce(&AwsFailure) -> String,
    ) -> Result<T, StepError> {
        self.map_err(|f| {
            if f.is_any(codes) {
                StepError::invalid_plan(say(&f))
            } else {
                f.into()
            }
        })
    }
}

/// Names the action of a failed SDK call: `client.x().send().await.named("ec2:X", &who)`.
pub trait SdkResultExt<T> {
    fn named(self, action: &'static str, principal: &str) -> Result<T, AwsFailure>;
}

impl<T, E, R> SdkResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    fn named(self, action: &'static str, principal: &str) -> Result<T, AwsFailure> {
        self.map_err(|err| {
            let no_credentials = matches!(&err, SdkError::DispatchFailure(_))
                && sources(&err).any(|e| e.is::<aws_credential_types::provider::error::CredentialsError>());
            // Transport and credential failures are not AWS's answer: retryable in the
            // workflow (a Lambda's role credentials come back), plain words in the CLI.
            let transient = no_credentials
                || match &err {
                    SdkError::TimeoutError(_) => true,
                    SdkError::DispatchFailure(failure) => failure.is_timeout() || failure.is_io(),
                    _ => false,
                };
            let (code, message) = match &err {
                SdkError::ServiceError(service) => {
                    let e = service.err();
                    (
                        e.code().map(str::to_string),
                        e.message().unwrap_or("no message").to_string(),
                    )
                }
                SdkError::DispatchFailure(f) if f.is_io() => {
                    (None, format!("cannot reach the AWS endpoint: {}", chain(&err)))
                }
                _ if no_credentials => (
                    None,
                    format!(
                        "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({})",
                        chain(&err).lines().next().unwrap_or_default()
                    ),
                ),
                other => (None, chain(other)),
            };
            AwsFailure {
                action,
                code,
                message,
                principal: principal.to_string(),
                transient,
            }
        })
    }
}

/// An error and its sources, each in its own words (no Debug dump of the SDK's types).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    sources(err)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

fn sources<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_and_credential_failures_are_retryable_and_said_plainly() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let refused: Result<
            (),
            SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, ()>,
        > = Err(SdkError::dispatch_failure(ConnectorError::io(
            "Connection refused".into(),
        )));
        let f = refused
            .named("sts:AssumeRole", "arn:aws:iam::1:role/R")
            .unwrap_err();
        assert!(
            f.transient && f.message.starts_with("cannot reach the AWS endpoint"),
            "{}",
            f.message
        );
        assert!(!f.message.contains("DispatchFailure {"), "{}", f.message);
        assert_eq!(StepError::from(f).name(), NOT_READY);
        let missing = aws_credential_types::provider::error::CredentialsError::not_loaded(
            "no credentials in chain",
        );
        let none: Result<(), SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, ()>> =
            Err(SdkError::dispatch_failure(ConnectorError::other(
                missing.into(),
                None,
            )));
        let f = none
            .named("sts:AssumeRole", "arn:aws:iam::1:role/R")
            .unwrap_err();
        assert!(
            f.transient
                && f.message
                    .starts_with("no AWS credentials found: set AWS_PROFILE"),
            "{}",
            f.message
        );
        assert_ne!(StepError::from(f).name(), ACCESS_DENIED);
    }

    #[test]
    fn throttling_beyond_the_sdk_retries_is_not_ready_and_other_failures_are_resource_failed() {
        let failure = |code: &str| AwsFailure {
            action: "ec2:RunInstances",
            code: Some(code.to_string()),
            message: "m".into(),
            principal: "arn:aws:iam::222222222222:role/R".into(),
            transient: false,
        };
        assert_eq!(
            StepError::from(failure("RequestLimitExceeded")).name(),
            NOT_READY
        );
        assert_eq!(
            StepError::from(failure("ThrottlingException")).name(),
            NOT_READY
        );
        assert_eq!(
            StepError::from(failure("InsufficientInstanceCapacity")).name(),
            RESOURCE_FAILED
        );
        assert_eq!(
            StepError::from(failure("UnauthorizedOperation")).name(),
            ACCESS_DENIED
        );
    }

    #[test]
    fn every_variant_maps_to_its_design_name() {
        let cases = [
            (StepError::NotReady("x".into()), "CarveOut.NotReady"),
            (StepError::InvalidPlan("x".into()), "CarveOut.InvalidPlan"),
            (StepError::Conflict("x".into()), "CarveOut.Conflict"),
            (
                StepError::ResourceFailed("x".into()),
                "CarveOut.ResourceFailed",
            ),
            (
                StepError::AccessDenied {
                    principal: "r".into(),
                    action: "a".into(),
                    message: "m".into(),
                },
                "CarveOut.AccessDenied",
            ),
        ];
        for (err, name) in cases {
            assert!(NAMES.contains(&err.name()), "{name} is missing from NAMES");
            let diagnostic: Diagnostic = err.into();
            assert_eq!(diagnostic.error_type, name);
        }
    }

    #[test]
    fn denied_calls_become_access_denied_naming_role_and_action() {
        let failure = AwsFailure {
            action: "ec2:CreateRoute",
            code: Some("UnauthorizedOperation".into()),
            message: "not authorized".into(),
            principal: "arn:aws:iam::111111111111:role/CarveOutExecutionRole".into(),
            transient: false,
        };
        let err = StepError::from(failure);
        assert_eq!(err.name(), ACCESS_DENIED);
        let text = err.to_string();
        assert!(text.contains("ec2:CreateRoute") && text.contains("CarveOutExecutionRole"));
    }

    #[test]
    fn a_call_without_an_answer_is_retried_by_the_state_not_rolled_back() {
        let failure = AwsFailure {
            action: "ec2:DescribeImages",
            code: None,
            message: "operation timeout (all attempts including retries) occurred after 60s".into(),
            principal: String::new(),
            transient: true,
        };
        assert_eq!(StepError::from(failure).name(), NOT_READY);
    }

    #[test]
    fn codes_compare_without_case() {
        let failure = AwsFailure {
            action: "ec2:AcceptVpcPeeringConnection",
            code: Some("InvalidVpcPeeringConnectionId.NotFound".into()),
            message: String::new(),
            principal: String::new(),
            transient: false,
        };
        assert!(failure.is("InvalidVpcPeeringConnectionID.NotFound"));
        assert_eq!(StepError::from(failure).name(), RESOURCE_FAILED);
    }
}
