"""One module per schema version step, named `vNN_<what>.py`: VERSION, DESCRIPTION, upgrade(op), downgrade(op).

`upgrade` moves a database from VERSION - 1 to VERSION, `downgrade` back; `op` is a `migrations.ops.Ops`
whose `old`/`new` snapshots are the schemas before and after (swapped for downgrades).
"""
