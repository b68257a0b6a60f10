"""kill -9 of `hone backup create`, `restore` and `prune`: at each of their write, fsync,
rename, link and unlink calls (strace inject=CALL:signal=KILL:when=N, which kills the process
as it enters its N-th such call) and at random moments, on an encrypted database whose last
committed rows are still only in its -wal file. After every trial: every listed backup
decompresses with zlib (CRC and length) and verifies; no temp file is listed; the database
opens with its key, passes integrity_check and holds exactly the old or the new rows; a kept
DB.pre-restore-* copy holds the old rows.

Usage: HONE_EXE=... HONE_PROBE=... python3 test_kill.py   (ctest: reliability-kill)"""

import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reltest as R  # noqa: E402

MIN_TRIALS = 30  # per operation
SYSCALL_CAP = 48  # kill points at file calls per operation (all of them when fewer)
RANDOM_TRIALS = 12  # kills at random moments per operation, more when the calls are fewer
KEEP = 3


def main():
    R.need_strace()
    t_start = time.monotonic()
    rng = random.Random(R.SEED)
    R.report("kill -9: seed %d (HONE_RELIABILITY_SEED=%d repeats this run), %d trials at a time"
             % (R.SEED, R.SEED, R.JOBS))
    fx = R.Fixture("kill", transactions=3000, wal_rows=60, backups=2, extra_copies=6)
    rc, out, err = fx.template.hone("backup", "list", "--json", key=False)
    newest = [b["name"] for b in json.loads(out)][:KEEP]
    R.report("fixture: %d transactions (%d of them only in the -wal file), %d backups; restore target %s"
             " (%d transactions)" % (fx.live_count, 60, len(fx.backup_names), fx.restore_name, fx.restore_count))

    old = {fx.live_digest: ("old", fx.live_count)}
    ops = {
        "create": (["backup", "create"], dict(allow_new=1), old),
        "restore": (["backup", "restore", fx.restore_name, "--force"],
                    dict(expect_subset_of=fx.backup_names, must_keep=fx.backup_names),
                    dict(old, **{fx.restore_digest: ("new", fx.restore_count)})),
        "prune": (["backup", "prune", "--keep", str(KEEP), "-y"],
                  dict(expect_subset_of=fx.backup_names, must_keep=newest), old),
    }

    failures_total = 0
    for op, (args, backup_rules, allowed) in ops.items():
        t_op = time.monotonic()
        calls = R.enumerate_calls(fx, args)
        chosen = R.select_calls(calls, rng, SYSCALL_CAP)
        lo, hi = R.op_window(fx, args)
        n_random = max(RANDOM_TRIALS, MIN_TRIALS - len(chosen))
        delays = [rng.uniform(lo, hi) for _ in range(n_random)]
        specs = [("call", c) for c in chosen] + [("random", d) for d in delays]

        def trial(spec):
            kind, what = spec
            t = fx.copy(op)
            problems = []
            if kind == "call":
                name, n, path = what
                log = os.path.join(t.root, "strace.log")
                rc, out, err = t.hone(*args, wrapper=R.inject(name, "signal=KILL:when=%d" % n, log))
                killed = rc == -9
                if not killed:
                    problems.append("not killed at the call (exit %s): %s" % (rc, err.strip()))
                where = "%s #%d (%s)" % (name, n, path)
            else:
                killed = R.kill_at_random(t, args, what)
                where = "after %.3f s" % what
            R.check_backups(fx, t, problems, **backup_rules)
            outcome = R.check_database(fx, t, problems, allowed)
            if problems:
                R.report("FAIL kill -9 %s at %s (seed %d): %s; left in %s" % (op, where, R.SEED, "; ".join(problems),
                                                                          t.root))
            else:
                t.remove()
            return kind, killed, outcome, problems

        results = R.run_parallel(trial, specs)
        failures = sum(1 for r in results if r[3])
        failures_total += failures
        killed = sum(1 for r in results if r[1])
        outcomes = collections.Counter(r[2] for r in results if r[2])
        by_call = collections.Counter(c[0] for c in chosen)
        R.report("kill -9 %s: %d trials (%d at calls of %d: %s; %d at random times in %.2f-%.2f s), %d killed, "
                 "%d finished first; database after: %s; %d failures; seed %d; %.0f s" % (
                     op, len(results), len(chosen), len(calls),
                     ", ".join("%s %d" % kv for kv in sorted(by_call.items())), n_random, lo, hi, killed,
                     len(results) - killed, ", ".join("%s %d" % kv for kv in sorted(outcomes.items())), failures,
                     R.SEED, time.monotonic() - t_op))
        assert len(results) >= MIN_TRIALS

    if failures_total == 0:
        fx.cleanup()
    R.report("kill -9: %d failures in %.0f s" % (failures_total, time.monotonic() - t_start))
    return 1 if failures_total else 0


if __name__ == "__main__":
    sys.exit(main())
