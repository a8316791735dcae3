//! Deterministic names, tags and tokens: how a step finds what an earlier run created.

pub const MIGRATION_TAG: &str = "carveout:migration-id";
pub const SOURCE_INSTANCE_TAG: &str = "carveout:source-instance-id";
/// On the new target group: the original forward action, for a re-run after cutover.
pub const ORIGINAL_FORWARD_TAG: &str = "carveout:original-forward";
/// Header of the probe rule's condition: no real request carries it.
pub const PROBE_HEADER: &str = "X-Carveout-Probe";

/// FNV-1a: a stable short hash (names must not change between releases or runs).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `prefix-id`, cut to `max` characters with a hash suffix when too long, so two long
/// migration ids with a common start still get different names.
fn bounded(prefix: &str, id: &str, max: usize) -> String {
    let full = format!("{prefix}-{id}");
    if full.len() <= max {
        return full;
    }
    let suffix = format!("{:08x}", fnv1a(id) as u32);
    let keep = max - suffix.len() - 1;
    format!("{}-{suffix}", full[..keep].trim_end_matches('-'))
}

/// Target group names: at most 32 characters, letters, digits and hyphens.
pub fn target_group(migration_id: &str) -> String {
    bounded("carveout", migration_id, 32)
}

pub fn image(migration_id: &str, instance_id: &str) -> String {
    format!("carveout-{migration_id}-{instance_id}")
}

/// stop-source's image after the stop, and its re-encrypted copy, are named per execution
/// (`started_at`: the migration execution's StartTime, `2026-12-01T13:15:00.123Z`): a new
/// execution of the same migration after a failed one must take a new image, since the
/// source served again (Rollback restarted it) after the old one was taken. Keeps the
/// digits: `carveout-<id>-<instance>` becomes `carveout-<id>-<instance>-20261201131500123`.
pub fn per_execution(name: &str, started_at: Option<&str>) -> String {
    match started_at.map(|t| t.chars().filter(char::is_ascii_digit).collect::<String>()) {
        Some(digits) if !digits.is_empty() => format!("{name}-{digits}"),
        _ => name.to_string(),
    }
}

/// The full image stop-source takes while the source still serves (options.preImage):
/// the image after the stop is incremental over its snapshots.
pub fn pre_image(migration_id: &str, instance_id: &str) -> String {
    format!("{}-pre", image(migration_id, instance_id))
}

/// The re-encrypted copy of [`image`] (options.kmsKeyId).
pub fn reencrypted_image(migration_id: &str, instance_id: &str) -> String {
    format!("{}-reencrypted", image(migration_id, instance_id))
}

/// CopyImage ClientToken (at most 64 ASCII characters): a retried copy is the same copy.
/// `run`: stop-source's per-execution digits ([`per_execution`]), else empty.
pub fn copy_token(migration_id: &str, instance_id: &str, run: &str) -> String {
    bounded(&format!("co-copy-{instance_id}{run}"), migration_id, 64)
}

/// The `Name` of what a migration creates: `carveout-<migration id>`.
pub fn label(migration_id: &str) -> String {
    format!("carveout-{migration_id}")
}

pub fn security_group(migration_id: &str) -> String {
    label(migration_id)
}

pub fn resource_share(migration_id: &str) -> String {
    label(migration_id)
}

/// RunInstances ClientToken: at most 64 ASCII characters. The same on every retry of one
/// launch (so a lost answer never launches twice), and new when the launch is another
/// one: `params` (image, type, subnet, group: a re-run after cleanup has a new image) and
/// `generation` (how many of this migration's instances for this source have been
/// terminated: a re-run after a failed launch) are part of it. EC2 answers a reused token
/// with the original instance, terminated or not, and a reused token with other
/// parameters with `IdempotentParameterMismatch`
/// (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html>).
pub fn launch_token(
    migration_id: &str,
    instance_id: &str,
    generation: usize,
    params: &[&str],
) -> String {
    let digest = fnv1a(&params.join("\u{1f}")) as u32;
    bounded(
        &format!("co-{instance_id}-{generation}-{digest:08x}"),
        migration_id,
        64,
    )
}

pub fn share_token(migration_id: &str) -> String {
    bounded("co-share", migration_id, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_group_names_fit_and_stay_distinct() {
        assert_eq!(target_group("hp-2026-11"), "carveout-hp-2026-11");
        let a = target_group("a-very-long-migration-id-number-one");
        let b = target_group("a-very-long-migration-id-number-two");
        assert!(a.len() <= 32 && b.len() <= 32);
        assert_ne!(a, b);
        assert_eq!(a, target_group("a-very-long-migration-id-number-one"));
        assert!(!a.contains("--"));
    }

    #[test]
    fn tokens_fit_the_api_limit() {
        let long = "x".repeat(48);
        let params = ["ami-1", "t3.small", "subnet-1", "sg-1"];
        assert!(launch_token(&long, "i-0123456789abcdef0", 0, &params).len() <= 64);
        let run = "-20261201131500123";
        assert!(copy_token(&long, "i-0123456789abcdef0", run).len() <= 64);
        assert_ne!(
            copy_token("hp", "i-0123456789abcdef0", ""),
            launch_token("hp", "i-0123456789abcdef0", 0, &params)
        );
        // Another execution of a stop-source migration copies anew, even with a long id.
        assert_ne!(
            copy_token(&long, "i-0123456789abcdef0", run),
            copy_token(&long, "i-0123456789abcdef0", "-20261202000000000")
        );
    }

    #[test]
    fn stop_source_images_are_named_per_execution() {
        let at = Some("2026-12-01T13:15:00.123Z");
        assert_eq!(
            per_execution("carveout-hp-i-1", at),
            "carveout-hp-i-1-20261201131500123"
        );
        assert_eq!(per_execution("carveout-hp-i-1", None), "carveout-hp-i-1");
    }

    #[test]
    fn a_launch_token_is_stable_for_a_retry_and_new_for_another_launch() {
        let params = ["ami-1", "t3.small", "subnet-1", "sg-1"];
        let token = |g, p: &[&str]| launch_token("hp", "i-0123456789abcdef0", g, p);
        assert_eq!(token(0, &params), token(0, &params));
        assert_ne!(
            token(0, &params),
            token(1, &params),
            "after a terminated launch"
        );
        assert_ne!(
            token(0, &params),
            token(0, &["ami-2", "t3.small", "subnet-1", "sg-1"]),
            "a new image (re-run after cleanup)"
        );
        assert_ne!(
            token(0, &params),
            token(0, &["ami-1", "t3.large", "subnet-1", "sg-1"])
        );
    }
}
