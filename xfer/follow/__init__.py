"""Live cutover: following the source's change log into the target after a copy taken without a
lock, and switching over.

- `net`: a batch of row changes collapsed to each key's net effect (pure, table-driven tests).
- `deltas`: the net changes converted into the target's types by the copy's own transformers.
- `follower`: the loop (read a batch, apply it with its position in one transaction), its
  retries, schema changes, stopping on a signal or a request.
- `cutover`: hold the source's writes, catch up, verify, finish the target, report.

Why the copy needs no lock: replaying every change from a position taken before the first row
was read, as "upsert the after-image by key / delete the key", in log order, ends in the source's
state whatever moment each chunk was read at (Netflix's DBLog). Until the replay passes the
position at which the copy ended, the target is no consistent picture of any moment: the
follower's state says so (`copy_end`).
"""
