"""Transactional workloads: clients that run multi-statement transactions and record each as
one "txn" op, for the isolation checker (chaos/consistency/).

- `list_append`: Elle's list-append (appends to and reads of lists over a rotating key space);
- `bank`: transfers between accounts and whole-table reads, whose total must never change;
- `counter`: read-modify-write increments as applications write them, the lost-update pattern.

Each runs through the VIP (the proxies' routing: one writer) or straight to every node
(multi-writer, as Jepsen runs), at an isolation level of the run's choosing (`TxnSettings`).
"""
