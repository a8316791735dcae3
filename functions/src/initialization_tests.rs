use super::*;

fn opts() -> GateOptions {
    GateOptions {
        wait_for_volume_initialization: true,
        volume_initialization_timeout_minutes: 480,
    }
}

fn vol(id: &str, size: i32, age: u64) -> VolumeInit {
    VolumeInit {
        volume_id: id.into(),
        instance_id: "i-new".into(),
        size_gib: size,
        from_snapshot: true,
        age_seconds: age,
        state: Some("initializing".into()),
        ..Default::default()
    }
}

#[test]
fn the_wait_is_on_by_default_only_with_a_provisioned_rate() {
    let mut o = Options::default();
    assert!(!GateOptions::of(&o).wait_for_volume_initialization);
    o.volume_initialization_rate = Some(200);
    assert!(GateOptions::of(&o).wait_for_volume_initialization);
    o.wait_for_volume_initialization = Some(false);
    assert!(!GateOptions::of(&o).wait_for_volume_initialization);
}

#[test]
fn completed_and_empty_volumes_open_the_gate() {
    let mut a = vol("vol-a", 100, 600);
    a.state = Some("completed".into());
    let mut b = vol("vol-b", 8, 600);
    b.from_snapshot = false;
    b.state = None;
    let r = assess(&[a, b], &opts()).unwrap();
    assert!(r.ready);
    assert_eq!(r.progress_percent, 100);
}

#[test]
fn a_new_volume_without_a_report_is_not_taken_for_initialized() {
    // AWS: the initialization information can take up to 5 minutes to appear.
    let mut v = vol("vol-a", 100, 20);
    v.state = None;
    v.rate = Some(200);
    let r = assess(std::slice::from_ref(&v), &opts()).unwrap();
    assert!(!r.ready);
    assert_eq!(r.next_poll_seconds, 30);
    assert!(r.waiting[0].contains("not reported yet"), "{:?}", r.waiting);
    // Twice that long without details: not a wait any more, a failure to say so.
    v.age_seconds = UNREPORTED_LIMIT_SECONDS + 1;
    let err = assess(&[v], &opts()).unwrap_err();
    assert!(
        err.to_string().contains("no initialization details"),
        "{err}"
    );
}

#[test]
fn the_eta_of_ebs_sets_the_next_look_halving_until_the_last_minute() {
    let mut v = vol("vol-a", 500, 600);
    v.rate = Some(100);
    v.progress = Some(10);
    v.eta_seconds = Some(4000);
    let r = assess(std::slice::from_ref(&v), &opts()).unwrap();
    assert_eq!(
        (r.ready, r.next_poll_seconds, r.eta_seconds),
        (false, 2000, Some(4000))
    );
    assert!(r.summary.contains("ETA 67 min"), "{}", r.summary);
    v.eta_seconds = Some(50);
    // Deadline 1.5 × 5,120 s + 900 s = 8,580 s: never more often than a 120th of it.
    assert_eq!(assess(&[v], &opts()).unwrap().next_poll_seconds, 71);
}

#[test]
fn looks_are_few_over_hours_and_a_finished_volume_is_seen_within_the_fine_interval() {
    // A 3-hour initialization whose ETA is exact, deadline 1.5 × 3 h + 15 min: count
    // the looks and the lateness (at most max(60 s, deadline / 120) = 142 s).
    let total = 3 * 3600u64;
    let deadline = total * 3 / 2 + 900;
    let (mut t, mut looks) = (0u64, 0);
    loop {
        looks += 1;
        let remaining = total.saturating_sub(t);
        if remaining == 0 {
            break;
        }
        t += next_poll_seconds(Left::Eta(remaining), t, deadline);
    }
    assert!(looks <= 16, "{looks} looks");
    assert!(t - total <= deadline / 120, "seen {} s late", t - total);
}

#[test]
fn without_an_eta_the_progress_so_far_predicts_the_rest() {
    let mut v = vol("vol-a", 100, 1200);
    v.progress = Some(25);
    let r = assess(&[v], &opts()).unwrap();
    assert_eq!(r.eta_seconds, Some(3600));
    // An extrapolation is trusted for at most 10 minutes at a time.
    assert_eq!(r.next_poll_seconds, 600);
}

#[test]
fn progress_is_weighted_by_size() {
    let mut big = vol("vol-big", 300, 60);
    big.progress = Some(50);
    let mut small = vol("vol-small", 100, 60);
    small.state = Some("completed".into());
    let r = assess(&[big, small], &opts()).unwrap();
    assert_eq!(r.progress_percent, 62);
    assert_eq!(r.waiting.len(), 1);
}

#[test]
fn a_provisioned_volume_past_one_and_a_half_times_its_transfer_fails_the_gate() {
    // 100 GiB at 100 MiB/s: 1,024 s of transfer, deadline 1.5 × 1,024 + 900 = 2,436 s.
    let mut v = vol("vol-a", 100, 2400);
    v.rate = Some(100);
    v.progress = Some(90);
    assert_eq!(v.deadline_seconds(&opts()), 2436);
    let r = assess(std::slice::from_ref(&v), &opts()).unwrap();
    assert!(
        r.next_poll_seconds <= 37,
        "never sleeps past the deadline: {}",
        r.next_poll_seconds
    );
    v.age_seconds = 2437;
    let err = assess(&[v], &opts()).unwrap_err();
    assert!(err.to_string().contains("vol-a of i-new"), "{err}");
    assert!(
        err.to_string().contains("1.5 × 100 GiB at 100 MiB/s"),
        "{err}"
    );
}

#[test]
fn a_default_rate_volume_fails_after_the_plans_timeout() {
    let v = vol("vol-a", 100, 480 * 60 + 1);
    let err = assess(&[v], &opts()).unwrap_err();
    assert!(
        err.to_string()
            .contains("options.volumeInitializationTimeoutMinutes"),
        "{err}"
    );
}

#[test]
fn looks_never_exceed_the_worst_case_bound_whatever_ebs_answers() {
    // An ETA that always says 10 s (never true), after 5 minutes unreported: the looks
    // until the deadline stay within the bound the history check counts.
    for deadline in [961, 3600, 8 * 3600, 48 * 3600] {
        let (mut t, mut looks) = (0u64, 0u64);
        while t <= deadline {
            looks += 1;
            let left = if t < 300 {
                Left::Unreported
            } else {
                Left::Eta(10)
            };
            t += next_poll_seconds(left, t, deadline);
        }
        assert!(
            looks <= worst_case_looks(deadline),
            "{deadline} s: {looks} > {}",
            worst_case_looks(deadline)
        );
    }
    // Eight hours at the default rate: about 120 looks, not 480.
    assert!(worst_case_looks(8 * 3600) <= 125);
}
