"""A deterministic scheduler of simulated threads (loom's and FoundationDB's idea, in Python).

What it models. The store's runtime -- shard locks, the group commit's leader and waiters --
runs on real Python threads, but only one of them runs at a time: each holds a baton, and
gives it back at a *switch point*: every door call (`SimFileSystem` steps, and the middle of
an fsync, between its start and its return), every lock acquire and release, every condition
wait and notify. The scheduler then picks which runnable thread goes next. Every switch is
also a step of the file system (`yield` operations), so the explorer cuts -- crashes --
there too: a crash at every step of every interleaving.

Choices. A `Schedule` is the list of choices made at the decisions that had more than one
runnable thread (index into the runnable threads in name order; the current thread first
when it can run). Past the end of its `prefix` a schedule continues with the current thread
(no preemption) -- or, for a sampled schedule, with `random.Random(f"{seed}:schedule")`.
`sim.interleavings` enumerates schedules breadth-first by preemptions (a switch away from a
thread that could have continued), up to a bound, and samples beyond it. Same schedule, same run, bit for
bit: a failure's replay line carries `--schedule 0,1,0`.

Blocking. A thread waiting for a lock or a notification is not runnable; when no thread is
runnable and some are unfinished, the run ends with `Deadlock` (a finding, not a hang).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import attrs


class Deadlock(Exception):
    pass


@attrs.frozen
class Schedule:
    prefix: tuple[int, ...] = ()
    sample_seed: str | None = None  # None: after the prefix, never preempt

    def label(self) -> str:
        return ",".join(str(choice) for choice in self.prefix)


def parse_schedule(text: str | None) -> Schedule | None:
    if text is None:
        return None
    return Schedule(tuple(int(part) for part in text.split(",") if part != ""))


class _SimThread:
    def __init__(self, name: str, body: Callable[[], None]) -> None:
        self.name = name
        self.body = body
        self.go = threading.Semaphore(0)
        self.done = False
        self.error: BaseException | None = None
        self.blocked: Callable[[], bool] | None = None  # the condition it waits for

    def runnable(self) -> bool:
        return not self.done and (self.blocked is None or self.blocked())


class Scheduler:
    """Runs `spawn`ed bodies one at a time, switching only at `switch` (module docstring)."""

    def __init__(self, schedule: Schedule, on_switch: Callable[[str], None] | None = None) -> None:
        self.schedule = schedule
        self.on_switch = on_switch  # called by the running thread at each switch point
        self.threads: list[_SimThread] = []
        self.current: _SimThread | None = None
        self._back = threading.Semaphore(0)
        self.decisions: list[tuple[int, int, bool]] = []  # (choice, options, choice 0 = continue)
        self._rng = random.Random(f"{schedule.sample_seed}:schedule") if schedule.sample_seed else None
        self.trace: list[str] = []

    def spawn(self, name: str, body: Callable[[], None]) -> None:
        self.threads.append(_SimThread(name, body))

    # -- inside simulated threads -----------------------------------------------------------

    def in_simulated_thread(self) -> bool:
        return self.current is not None and threading.current_thread().name == f"sim:{self.current.name}"

    def switch(self, reason: str) -> None:
        """A switch point: hand the baton back; continue when chosen again."""
        if not self.in_simulated_thread():
            return
        me = self.current
        self.trace.append(f"{me.name}:{reason}")
        self._back.release()
        me.go.acquire()

    def point(self, reason: str) -> None:
        """A switch point that is also a step (so the explorer cuts there): through
        `on_switch` (the workload makes it a file-system step whose observer switches)."""
        if not self.in_simulated_thread():
            return
        if self.on_switch is not None:
            self.on_switch(reason)
        else:
            self.switch(reason)

    def block_until(self, ready: Callable[[], bool], reason: str) -> None:
        """Wait (not runnable) until `ready()`; the scheduler re-checks it at each decision."""
        if ready():
            return
        assert self.in_simulated_thread(), "only a simulated thread can block"
        self.current.blocked = ready
        self.switch(reason)
        assert ready()

    # -- the driver (the thread that called run) --------------------------------------------

    def _choose(self, runnable: list[_SimThread]) -> _SimThread:
        current = self.current
        ordered = sorted(runnable, key=lambda thread: thread.name)
        if current in runnable:
            ordered.remove(current)
            ordered.insert(0, current)
        if len(ordered) == 1:
            return ordered[0]
        decision = len(self.decisions)
        if decision < len(self.schedule.prefix):
            choice = min(self.schedule.prefix[decision], len(ordered) - 1)
        elif self._rng is not None:
            choice = self._rng.randrange(len(ordered))
        else:
            choice = 0
        self.decisions.append((choice, len(ordered), ordered[0] is current))
        return ordered[choice]

    def run(self) -> None:
        for thread in self.threads:
            worker = threading.Thread(target=self._body, args=(thread,), name=f"sim:{thread.name}", daemon=True)
            worker.start()
        while True:
            runnable = [thread for thread in self.threads if thread.runnable()]
            if not runnable:
                unfinished = [thread.name for thread in self.threads if not thread.done]
                if unfinished:
                    raise Deadlock(f"no runnable thread; waiting: {', '.join(unfinished)}")
                break
            chosen = self._choose(runnable)
            chosen.blocked = None
            self.current = chosen
            chosen.go.release()
            self._back.acquire()
        self.current = None
        for thread in self.threads:
            if thread.error is not None:
                raise thread.error

    def _body(self, thread: _SimThread) -> None:
        thread.go.acquire()
        try:
            thread.body()
        except BaseException as error:  # noqa: BLE001 -- handed to the driver, raised from run()
            thread.error = error
        finally:
            thread.done = True
            self._back.release()


class SimLock:
    """A mutex whose acquire and release are switch points (a `ShardLock` stand-in)."""

    def __init__(self, scheduler: Scheduler, name: str) -> None:
        self._scheduler = scheduler
        self.name = name
        self.owner: str | None = None

    def acquire(self) -> bool:
        scheduler = self._scheduler
        scheduler.point(f"acquire {self.name}")
        scheduler.block_until(lambda: self.owner is None, f"wait {self.name}")
        self.owner = scheduler.current.name if scheduler.current else "driver"
        return True

    def release(self) -> None:
        assert self.owner is not None, f"{self.name} released while free"
        self.owner = None
        self._scheduler.point(f"release {self.name}")

    def locked(self) -> bool:
        return self.owner is not None

    def __enter__(self) -> SimLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class SimCondition:
    """`threading.Condition` over a `SimLock`: wait and notify are switch points."""

    def __init__(self, scheduler: Scheduler, name: str) -> None:
        self._scheduler = scheduler
        self._lock = SimLock(scheduler, name)
        self._waiting: dict[int, bool] = {}  # ticket -> notified
        self._next_ticket = 0

    def __enter__(self) -> SimCondition:
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        ticket = self._next_ticket
        self._next_ticket += 1
        self._waiting[ticket] = False
        self._lock.release()
        self._scheduler.block_until(lambda: self._waiting[ticket], f"wait-notify {self._lock.name}")
        del self._waiting[ticket]
        self._lock.acquire()
        return True

    def notify_all(self) -> None:
        for ticket in self._waiting:
            self._waiting[ticket] = True
        self._scheduler.point(f"notify {self._lock.name}")

    def notify(self, count: int = 1) -> None:
        for ticket in sorted(self._waiting)[:count]:
            self._waiting[ticket] = True
        self._scheduler.point(f"notify {self._lock.name}")


class SimPrimitives:
    """`kevy_persist.store.runtime.Primitives` backed by the scheduler."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._count = 0

    def lock(self) -> SimLock:
        self._count += 1
        return SimLock(self._scheduler, f"lock{self._count}")

    def condition(self) -> SimCondition:
        self._count += 1
        return SimCondition(self._scheduler, f"condition{self._count}")

