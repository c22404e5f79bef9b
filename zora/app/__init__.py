"""The processes: the `zora` command and what it runs (web, worker, dev, the cluster nodes), assembled
from the core in zora/ and the packages beside it (bot/, widget/, webhooks/, activities/, workflows/).

Nothing outside this package imports it (pyproject.toml's import-linter contracts, run by `make lint`):
the core stays usable by the processes, the tests and the benchmarks alike.
"""
