use super::*;

/// Looks at a work that goes linearly from 0 to 100 % in `total` seconds, as a step would:
/// (looks, latency after the finish, seconds watched).
fn run(total: u64, deadline: u64) -> (u64, u64, u64) {
    let (mut t, mut looks, mut watched_all, mut close, mut since) = (0u64, 0u64, 0u64, 0u32, None);
    loop {
        looks += 1;
        let mut watched = 0;
        loop {
            if t >= total {
                return (looks, t - total, watched_all);
            }
            let s = Sighting {
                elapsed: t,
                progress: Some((t * 100 / total) as f64),
                since,
            };
            since = s.base();
            match next(&s, deadline, watched, close) {
                Next::Watch { every } => {
                    t += every;
                    watched += every;
                    watched_all += every;
                }
                Next::Wait { seconds, close: c } => {
                    t += seconds;
                    close += u32::from(c);
                    break;
                }
            }
        }
    }
}

#[test]
fn a_steady_work_takes_a_few_looks_and_is_seen_within_its_tenth() {
    for minutes in [1, 5, 20, 60, 240, 480] {
        let total = minutes * 60;
        let deadline = total * 3;
        let (looks, late, _) = run(total, deadline);
        // A few looks, at most 16 for 8 hours (the last percent, which EBS reports as
        // 99 % for minutes, takes a few close looks).
        assert!(looks <= 16, "{minutes} min: {looks} looks");
        assert!(late <= (total / 10).min(60), "{minutes} min: {late} s late");
    }
}

#[test]
fn a_short_work_ends_in_the_first_look() {
    let (looks, late, watched) = run(30, 3600);
    assert_eq!(looks, 1);
    assert!(late <= 2 && watched <= WATCH_SECONDS, "{late} {watched}");
}

#[test]
fn without_progress_the_looks_space_out_and_stay_bounded() {
    let s = |elapsed| Sighting {
        elapsed,
        ..Default::default()
    };
    let wait = |seconds, close| Next::Wait { seconds, close };
    assert_eq!(next(&s(0), 3600, 0, 0), Next::Watch { every: 2 });
    // Half the time so far, at least the floor (30 s): close looks are for the approach.
    assert_eq!(next(&s(40), 3600, 40, 0), wait(30, false));
    assert_eq!(next(&s(10_000), 36_000, 0, 0), wait(3600, false));
    // Never past the deadline: the look after it fails the wait on time.
    assert_eq!(next(&s(3590), 3600, 40, 0), wait(11, false));
    // Near a predicted end, closer than the floor, while close looks are left.
    let near = Sighting {
        elapsed: 3000,
        progress: Some(95.0),
        since: None,
    };
    // 125 s left at 95 %: half of it trusted.
    assert_eq!(next(&near, 36_000, 40, 0), wait(62, true));
    assert_eq!(next(&near, 36_000, 40, CLOSE_LOOKS), wait(300, false));
}

#[test]
fn the_worst_case_bounds_looks_for_any_deadline() {
    for deadline in [600, 3600, 8 * 3600, 48 * 3600] {
        // A work stuck at 99 %: the close looks, then every look waits the floor.
        let (mut t, mut looks, mut close) = (0, 0, 0);
        while t <= deadline {
            looks += 1;
            let s = Sighting {
                elapsed: t,
                progress: Some(99.0),
                since: None,
            };
            t += match next(&s, deadline, WATCH_SECONDS, close) {
                Next::Wait { seconds, close: c } => {
                    close += u32::from(c);
                    seconds
                }
                Next::Watch { .. } => unreachable!("no budget left"),
            };
        }
        assert!(looks <= worst_case_looks(deadline), "{deadline}: {looks}");
        // At 24 events a look (the Task's 2 + 3 x 6 attempts: 3 for Lambda's errors, 2 for
        // a look that outlasted the function; the Choice's 2, the Wait's 2), the image and
        // the copy wait of one child execution stay under 10,000 events (issue 15).
        assert!(2 * 24 * worst_case_looks(deadline) <= 8_000, "{deadline}");
    }
}

#[test]
fn the_image_deadline_grows_with_the_volumes() {
    assert_eq!(image_deadline_minutes(&[8]), 44);
    // 500 GiB at 10 MiB/s: 14 h 14 min, plus 30 min.
    assert_eq!(image_deadline_minutes(&[500]), 884);
    assert_eq!(image_deadline_minutes(&[]), 30);
    // 16 TiB would be 19 days: capped at 48 hours.
    assert_eq!(image_deadline_minutes(&[16_384]), 2880);
}

#[test]
fn a_look_says_how_far_and_when_next() {
    let s = Sighting {
        elapsed: 600,
        progress: Some(40.0),
        since: None,
    };
    let look = Look::again(&s, 675, 0, "image ami-1");
    assert_eq!(look.eta_seconds, Some(863));
    assert_eq!(
        look.summary,
        "image ami-1 40 % done after 10 min, ETA 15 min; next look in 12 min"
    );
    assert!(Look::ready(65, "image ami-1").ready);
}

#[test]
fn a_retry_polled_wait_is_watched_while_young_and_within_the_budget() {
    // Young: every 2 s at first, a twentieth of the age later.
    assert_eq!(watch_again(0, 0), Some(2));
    assert_eq!(watch_again(100, 30), Some(5));
    // The budget holds: the function's Timeout is 90 s.
    assert_eq!(watch_again(10, WATCH_BUDGET_SECONDS - 1), None);
    // Past the break-even age the Retry polls: a poll every tenth of the age costs less.
    assert_eq!(watch_again(WATCH_WHILE_YOUNGER_THAN, 0), None);
    // Watching keeps detection within a tenth of the wait: a twentieth, 10 s at most.
    for age in 0..WATCH_WHILE_YOUNGER_THAN {
        let every = watch_again(age, 0).unwrap();
        assert!(every <= (age / 10).max(2) && every <= 10, "{age}: {every}");
    }
}
