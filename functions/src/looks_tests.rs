use super::*;

/// Looks at a work that goes linearly from 0 to 100 % in `total` seconds, as a step would:
/// (looks, latency after the finish, seconds watched).
fn run(total: u64, deadline: u64) -> (u64, u64, u64) {
    let r = replay(total as f64, deadline, 0.0, |t| {
        Some((t as u64 * 100 / total) as f64)
    });
    (r.looks, r.late as u64, r.watched as u64)
}

#[test]
fn a_steady_work_takes_a_few_looks_and_is_seen_within_its_tenth() {
    for minutes in [1, 5, 20, 60, 240, 480] {
        let total = minutes * 60;
        let deadline = total * 3;
        let (looks, late, _) = run(total, deadline);
        // A few looks, at most 18 for 8 hours: each comes early enough for a rest
        // SPEED_UP times faster, and the last percent, which EBS reports as 99 % for
        // minutes, takes a few close looks.
        assert!(looks <= 18, "{minutes} min: {looks} looks");
        assert!(late <= (total / 10).min(60), "{minutes} min: {late} s late");
    }
}

/// Looks at a work that goes linearly until `at` % of `total` seconds' worth of progress,
/// then `speed_up` times faster: (looks, latency after the finish).
fn run_speeding_up(total: u64, at: f64, speed_up: f64) -> (u64, u64) {
    let slow = total as f64 * at / 100.0;
    let end = slow + (total as f64 - slow) / speed_up;
    let done = |t: f64| {
        let p = if t < slow {
            t / total as f64 * 100.0
        } else {
            at + (t - slow) * speed_up / total as f64 * 100.0
        };
        Some(p.floor().min(99.0))
    };
    let r = replay(end, 3 * total, 0.0, done);
    (r.looks, r.late as u64)
}

#[test]
fn a_work_whose_rest_goes_speed_up_times_faster_is_still_seen_within_a_minute() {
    // The last stretch of a snapshot may go much faster than the average so far: a look
    // comes early enough for SPEED_UP times (issue 15: within 10 % of the wait, 60 s at most).
    for minutes in [5, 20, 60, 240, 480] {
        let total = minutes * 60;
        for at in [30.0, 60.0, 80.0, 90.0] {
            let (_, late) = run_speeding_up(total, at, SPEED_UP);
            assert!(
                late <= (total / 10).min(60),
                "{minutes} min, faster from {at} %: {late} s late"
            );
        }
    }
}

#[test]
fn a_stretch_faster_than_the_average_shortens_the_time_left() {
    let s = Sighting {
        elapsed: 1000,
        progress: Some(55.0),
        since: Some((100, 10.0)),
        last: None,
    };
    // 45 points in 900 s: the 44 % left (55 % means up to 56 %) take 880 s.
    assert_eq!(s.remaining(), Some(880));
    // 20 of those points in the last 200 s: the rest at that rate.
    let faster = Sighting {
        last: Some((800, 35.0)),
        ..s
    };
    assert_eq!(faster.remaining(), Some(440));
    // A slower stretch does not lengthen it, and 2 points are mostly rounding.
    let slower = Sighting {
        last: Some((200, 20.0)),
        ..s
    };
    assert_eq!(slower.remaining(), Some(880));
    let rounding = Sighting {
        last: Some((990, 53.0)),
        ..s
    };
    assert_eq!(rounding.remaining(), Some(880));
}

#[test]
fn the_last_percent_is_looked_at_within_a_minute() {
    // 8 hours at 99 %: a percent is about 290 s, a third of it would be 97 s.
    let s = Sighting {
        elapsed: 28_700,
        progress: Some(99.0),
        ..Default::default()
    };
    assert_eq!(
        next(&s, 3 * 28_800, LOOK_WATCH_SECONDS, 0),
        Next::Wait {
            seconds: LAST_PERCENT_LOOK_SECONDS,
            close: true
        }
    );
}

#[test]
fn a_look_carries_what_it_saw_to_the_next_look() {
    let s = Sighting {
        elapsed: 600,
        progress: Some(40.0),
        since: Some((100, 5.0)),
        last: Some((300, 20.0)),
    };
    let look = Look::again(&s, 120, 0, "image ami-1");
    assert_eq!(
        (look.since, look.last),
        (Some((100, 5.0)), Some((600, 40.0)))
    );
    // A read without progress keeps the last look's.
    let blind = Sighting {
        progress: None,
        ..s
    };
    assert_eq!(Look::again(&blind, 120, 0, "x").last, Some((300, 20.0)));
    // Through the state (JSON), as the next invocation reads it.
    let json = serde_json::to_value(&look).unwrap();
    assert_eq!(json["last"], serde_json::json!([600, 40.0]));
    assert_eq!(serde_json::from_value::<Look>(json).unwrap(), look);
}

#[test]
fn a_short_work_ends_in_the_first_look() {
    let (looks, late, watched) = run(30, 3600);
    assert_eq!(looks, 1);
    assert!(
        late <= 2 && watched <= LOOK_WATCH_SECONDS,
        "{late} {watched}"
    );
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
    // Sooner than a minute is watched while the watch lasts.
    assert_eq!(next(&s(40), 3600, 40, 0), Next::Watch { every: 2 });
    assert_eq!(next(&s(40), 3600, LOOK_WATCH_SECONDS, 0), wait(30, false));
    assert_eq!(next(&s(10_000), 36_000, 0, 0), wait(3600, false));
    // Never past the deadline: the look after it fails the wait on time.
    assert_eq!(next(&s(3590), 3600, 40, 0), wait(11, false));
    // Near a predicted end, closer than the floor, while close looks are left.
    let near = Sighting {
        elapsed: 3000,
        progress: Some(95.0),
        ..Default::default()
    };
    // 125 s left at 95 %: within what is left of the watch, so watched.
    assert_eq!(next(&near, 36_000, 40, 0), Next::Watch { every: 10 });
    // With the watch spent: half of it (125 / 2.75 + 40 s is later).
    assert_eq!(next(&near, 36_000, LOOK_WATCH_SECONDS, 0), wait(62, true));
    assert_eq!(
        next(&near, 36_000, LOOK_WATCH_SECONDS, CLOSE_LOOKS),
        wait(300, false)
    );
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
                ..Default::default()
            };
            t += match next(&s, deadline, LOOK_WATCH_SECONDS, close) {
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
        ..Default::default()
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
    // The budget holds: the function's Timeout is 250 s.
    assert_eq!(watch_again(10, WATCH_BUDGET_SECONDS - 1), None);
    // Past the break-even age the Retry polls: a poll every tenth of the age costs less.
    assert_eq!(watch_again(WATCH_WHILE_YOUNGER_THAN, 0), None);
    // Watching keeps detection within a tenth of the wait: a twentieth, 10 s at most.
    for age in 0..WATCH_WHILE_YOUNGER_THAN {
        let every = watch_again(age, 0).unwrap();
        assert!(every <= (age / 10).max(2) && every <= 10, "{age}: {every}");
    }
}
