"""The real Store against a plain-dict model, with crashes: Hypothesis drives both.

Method: a `RuleBasedStateMachine` runs a three-shard store on the simulator's in-memory file
system (`appendfsync always`, manual ticker) next to a model made of Python dicts, lists and
sets. Rules: string, list, hash and set writes (including ones that fail with WRONGTYPE or
"not an integer"), cross-shard MSET and DEL, transactions on one shard that commit or abort,
SAVE, log rewrite, ticks, a clean restart (shutdown + reopen), and a crash: the file system is
replaced by a crash image the chosen profile allows (strict, ext4-ordered or weakest) and the
store reopened on it without shutdown. Under `always` every acknowledged write is durable, so
after every step -- crashes included -- the store's whole content must equal the model.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from store_support import crash, reboot, sim_store, store_state

from kevy_persist import CommandError, TransactionAbortedError
from kevy_persist.disk.clock import ManualClock
from sim.simfs import SimFileSystem

KEYS = [f"key:{number}".encode() for number in range(8)]
keys = st.sampled_from(KEYS)
values = st.sampled_from([b"1", b"20", b"-3", b"abc", b""])
CONFIG = {"shard_count": 3, "appendfsync": "always"}


def commands_on(key_strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple]:
    return st.one_of(
        st.tuples(st.just("set"), key_strategy, values),
        st.tuples(st.just("incr"), key_strategy, st.integers(-5, 5)),
        st.tuples(st.just("append"), key_strategy, values),
        st.tuples(st.just("lpush"), key_strategy, values),
        st.tuples(st.just("hincrby"), key_strategy, st.integers(-5, 5)),
        st.tuples(st.just("sadd"), key_strategy, values),
    )


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.fs = SimFileSystem()
        self.store = sim_store(self.fs, self.clock, **CONFIG)
        self.model: dict[bytes, Any] = {}

    def teardown(self) -> None:
        if not self.store.closed:
            self.store.shutdown()

    # -- the model's own semantics ------------------------------------------------------------

    def _string(self, key: bytes) -> bytes | None:
        """The model's string at `key`; raises KeyError (the model's WRONGTYPE) otherwise."""
        value = self.model.get(key)
        if value is not None and not isinstance(value, bytes):
            raise KeyError(key)
        return value

    def apply(self, command: tuple) -> Any:
        """Apply one command to the model; raise ValueError where Redis answers an error."""
        name, key, *rest = command
        if name == "set":
            self.model[key] = rest[0]
        elif name == "incr":
            try:
                current = self._string(key)
            except KeyError as error:
                raise ValueError("WRONGTYPE") from error
            try:
                number = int(current if current is not None else b"0")
            except ValueError as error:
                raise ValueError("not an integer") from error
            self.model[key] = str(number + rest[0]).encode()
        elif name == "append":
            try:
                self.model[key] = (self._string(key) or b"") + rest[0]
            except KeyError as error:
                raise ValueError("WRONGTYPE") from error
        else:
            kind = {"lpush": list, "hincrby": dict, "sadd": set}[name]
            current = self.model.get(key)
            if current is not None and not isinstance(current, kind):
                raise ValueError("WRONGTYPE")
            if name == "lpush":
                self.model[key] = [rest[0], *(current or [])]
            elif name == "hincrby":
                updated = dict(current or {})
                updated[b"f"] = str(int(updated.get(b"f", b"0")) + rest[0]).encode()
                self.model[key] = updated
            else:
                self.model[key] = set(current or set()) | {rest[0]}

    def run(self, target: Any, command: tuple) -> None:
        """Issue `command` on the store (or a transaction) by its typed method."""
        name, key, *rest = command
        if name == "hincrby":
            target.hincrby(key, "f", rest[0])
        else:
            getattr(target, name)(key, *rest)

    # -- rules ---------------------------------------------------------------------------------

    @rule(command=commands_on(keys))
    def single_command(self, command: tuple) -> None:
        saved = dict(self.model)
        try:
            self.apply(command)
            model_error = None
        except ValueError as error:
            self.model = saved
            model_error = error
        try:
            self.run(self.store, command)
        except CommandError as error:
            assert model_error is not None, f"store refused {command}: {error.message}"
            return
        assert model_error is None, f"store accepted {command}, model says {model_error}"

    @rule(pairs=st.dictionaries(keys, values, min_size=1, max_size=4))
    def mset_across_shards(self, pairs: dict[bytes, bytes]) -> None:
        self.store.mset(pairs)
        self.model.update(pairs)

    @rule(chosen=st.lists(keys, min_size=1, max_size=4))
    def delete_across_shards(self, chosen: list[bytes]) -> None:
        expected = sum(1 for key in set(chosen) if key in self.model)
        assert self.store.delete(*set(chosen)) == expected
        for key in chosen:
            self.model.pop(key, None)

    @rule(shard=st.integers(0, 2), data=st.data())
    def transaction_on_one_shard(self, shard: int, data: st.DataObject) -> None:
        local_keys = [key for key in KEYS if self.store.shard_of(key) == shard]
        if not local_keys:
            return
        block = data.draw(st.lists(commands_on(st.sampled_from(local_keys)), min_size=1, max_size=4))
        saved = dict(self.model)
        try:
            for command in block:
                self.apply(command)
            model_failed = False
        except ValueError:
            self.model = saved
            model_failed = True
        try:
            with self.store.transaction() as tx:
                for command in block:
                    self.run(tx, command)
        except TransactionAbortedError:
            assert model_failed, f"store aborted {block}"
            return
        assert not model_failed, f"store committed {block}"

    @rule()
    def save(self) -> None:
        self.store.save()

    @rule()
    def rewrite(self) -> None:
        self.store.rewrite_log()

    @rule(milliseconds=st.integers(0, 3000))
    def tick(self, milliseconds: int) -> None:
        self.clock.advance(milliseconds)
        self.store.tick()

    @rule()
    def clean_restart(self) -> None:
        self.store.shutdown()
        self.fs = reboot(self.fs)
        self.store = sim_store(self.fs, self.clock, **CONFIG)

    @rule(profile=st.sampled_from(["strict", "ext4-ordered", "weakest"]), seed=st.integers(0, 1000))
    def crash_and_recover(self, profile: str, seed: int) -> None:
        self.fs = crash(self.fs, profile, seed)  # the old store is abandoned, never shut down
        self.store = sim_store(self.fs, self.clock, **CONFIG)

    @precondition(lambda self: not self.store.closed)
    @invariant()
    def store_equals_model(self) -> None:
        assert store_state(self.store) == self.model


TestStoreStateMachine = StoreMachine.TestCase
TestStoreStateMachine.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
