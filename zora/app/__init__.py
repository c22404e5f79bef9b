"""The processes: the `zora` command and what it runs (web, worker, dev, the cluster nodes), assembled
(assembly.py) from the core in zora/ and the packages beside it (bot/, widget/, webhooks/, activities/,
workflows/).

Neither the core nor those packages import this one (pyproject.toml's import-linter contracts, run by
`make lint`); the tests and the benchmarks do, to run Zora the way its commands do.
"""
