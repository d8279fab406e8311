"""The oracles that demonstrate the last sync sites the self-check used to justify in writing.

Method: one strict sweep per site with that site turned into a no-op (`disabled_sync_sites`,
keyed without line numbers, as `--disable-sync` takes it), and the same sweep with nothing
disabled: the disabled one must report the named violation, the intact one none.
- `import-rdb-1-kevyhash` starts without `/data`: the new dir's name, not fsynced in `/`,
  is lost with the whole import after its commit point (`lost-commit`);
- `store-background-always` starts without `/data`: the store's `shards.meta` of a fresh dir
  must be durable once the open returned, kevy 1.23 reads the layout from it
  (`layout-not-recorded`);
- `move-1shard --resume`: a MOVE journal settled at open must be removed durably, or a
  write after that open is deleted by the next open (`resume-lost-acknowledged`);
- `swapdb-chain-1shard`: a finished swap's journal must be removed durably, or it comes back
  before the next swap's commit and rolls half of that swap forward (`not-a-prefix`).
"""

from __future__ import annotations

import pytest

from sim.explorer import SweepConfig, sweep
from sim.profiles import Limits

CASES = [
    ("import-rdb-1-kevyhash", False,
     "kevy_persist/reshard/fresh_install.py in prepare_fresh_directory -> kevy_persist/layout/data_dir.py in make_data_dir",
     "lost-commit"),
    ("store-background-always", False,
     "kevy_persist/store/opening.py in open_store_shards -> kevy_persist/layout/meta.py in write_layout",
     "layout-not-recorded"),
    ("move-1shard", True,
     "kevy_persist/store/database_lifecycle.py in open_existing_databases -> kevy_persist/store/databases.py in recover_interrupted_move",
     "resume-lost-acknowledged"),
    ("swapdb-chain-1shard", False,
     "kevy_persist/reshard/swapdb.py in swap_databases -> kevy_persist/reshard/swapdb.py in finish_swap",
     "not-a-prefix"),
]


@pytest.mark.parametrize(("workload", "resume", "site", "kind"), CASES, ids=[case[0] for case in CASES])
def test_removing_the_sync_is_caught_by_the_oracle(workload, resume, site, kind):
    config = SweepConfig(workload, "strict", limits=Limits(32, 8), nested_limits=Limits(4, 2), resume=resume)
    assert sweep(config).violation_count == 0
    broken = sweep(SweepConfig(workload, "strict", limits=Limits(32, 8), nested_limits=Limits(4, 2), resume=resume,
                               disabled_sync_sites=frozenset({site})))
    assert kind in {violation.kind for violation in broken.violations}, [v.kind for v in broken.violations[:5]]
