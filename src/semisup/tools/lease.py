"""The lending rules of the GPU machines this project is lent now and then: not PyTorch's limits, nor the project's,
but the workplace's (its device tool's page, read 2026-12-07), kept here alone so that a change of rules is one edit
and nothing else in the package hard-codes them. The plans (`gpu-check plan`, `gpu-check plan --plan article`) are
checked against these numbers before anything is sent.

The allowances below are the plans' budget for what is not training: two from what the lent H200 took on 2026-12-04
(metrics/gpu/h200-2026-12-04/, README "On a GPU"), rounded up, and one margin; they are not promises."""
from __future__ import annotations

MIB = 1024 * 1024

# The rules.
LEASE_S = 15 * 60  # device time for a session, all calls together: machine start, transfers and idle gaps included
CALL_S = 600  # one command's run (its timeout_s at most)
CALL_LIMIT = 64 * MIB  # what one call sends: the working tree plus the carried paths
COMMAND_CHARS = 2000  # one command line
WARM_S = 30  # a machine idle this long after a call is given back (and /root/w with it)
RETURN_FILES, RETURN_FILE_BYTES = 8, 16 * MIB  # what comes back from $OUT, at most two folders down
WORK = "/root/w"  # on the device, outside the working tree's copy: survives between calls while the machine is warm

# Allowances: the first two from what was seen (2026-12-04, one H200), the third a margin nobody measured.
START_S = 60  # a machine's start with the working tree's transfer: 33 s seen
CARRY_CALL_S = 10  # a call that only copies one carried part of ~56 MiB: ~6 s seen
GAP_S = 15  # idle between two back-to-back calls (must stay under WARM_S, or the machine and /root/w are gone)
PART_LIMIT = 56 * MIB  # one carried part, leaving the working tree room under CALL_LIMIT
