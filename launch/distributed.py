"""Multi-process JAX from environment variables: call `initialize_from_env()` first thing in a main().

Two ways to ask for several processes (anything else, or one process, leaves JAX untouched):

* explicit (launch/multiprocess.sh sets these; any launcher can):
      SEQREC_COORDINATOR=host:port   process 0 listens there, the others connect to it
      SEQREC_NUM_PROCESSES=N         N > 1
      SEQREC_PROCESS_ID=i            0 <= i < N, different in every process
      SEQREC_LOCAL_DEVICE_IDS=0,1    optional: the local accelerators this process uses (default: all it sees)
      SEQREC_COORDINATOR_BIND=h:p    optional: where process 0 listens, if not at SEQREC_COORDINATOR's address
* an srun step of SLURM (launch/slurm_train.sbatch): SLURM_STEP_NUM_TASKS > 1, SLURM_PROCID, and the
  coordinator from SEQREC_COORDINATOR or else the first host of SLURM_STEP_NODELIST on port
  SEQREC_COORDINATOR_PORT (default derived from SLURM_JOB_ID, so all tasks agree without talking).

JAX's own SLURM detection (`jax.distributed.initialize()` without arguments, jax 0.10) is not used: it
pins each process to the one GPU numbered SLURM_LOCALID, which wastes all GPUs but one with one task per
node, and names a GPU that does not exist when SLURM already restricted each task to its own GPU
(--gpus-per-task=1). Here a process uses every device it sees unless SEQREC_LOCAL_DEVICE_IDS says otherwise.

The coordinator (process 0) listens on the coordinator's own host and port only. JAX's default is every
interface ([::]:port), which exposes an unauthenticated service to whatever network the node is on; the others
connect to the address they were given, so binding to that address is all they need. Where the coordinator's
name resolves to another address on its own node than on the others (a hostname mapped to 127.0.1.1 in
/etc/hosts), set SEQREC_COORDINATOR_BIND to the interface address to listen on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping

EXPLICIT = ("SEQREC_COORDINATOR", "SEQREC_NUM_PROCESSES", "SEQREC_PROCESS_ID")


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
    coordinator: str
    num_processes: int
    process_id: int
    local_device_ids: tuple[int, ...] | None
    source: str  # which variables it came from ("SEQREC_*" or "SLURM"), for the log


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ValueError(f"{name}={env[name]!r} is not an integer") from None


def _check_coordinator(value: str, name: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}={value!r} must be host:port with a port in 1..65535")
    return value


def _local_device_ids(env: Mapping[str, str]) -> tuple[int, ...] | None:
    raw = env.get("SEQREC_LOCAL_DEVICE_IDS", "").strip()
    if not raw:
        return None
    try:
        ids = tuple(int(x) for x in raw.split(","))
    except ValueError:
        raise ValueError(f"SEQREC_LOCAL_DEVICE_IDS={raw!r} must be comma-separated integers, e.g. 0,1") from None
    if len(set(ids)) != len(ids) or min(ids) < 0:
        raise ValueError(f"SEQREC_LOCAL_DEVICE_IDS={raw!r} must list distinct non-negative device numbers")
    return ids


def first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list: 'gpu[003-006,9],cpu1' -> 'gpu003', 'a1,b2' -> 'a1'.
    (Suffixes after a bracket, 'gpu[1-2]-ib', are not handled: set SEQREC_COORDINATOR for those.)"""
    cut = min((i for i in (nodelist.find(","), nodelist.find("[")) if i >= 0), default=len(nodelist))
    if cut == len(nodelist) or nodelist[cut] == ",":
        return nodelist[:cut]
    return nodelist[:cut] + re.split(r"[,\-\]]", nodelist[cut + 1:], maxsplit=1)[0]


def _slurm(env: Mapping[str, str]) -> ProcessGroup:
    """The group of an srun step with SLURM_STEP_NUM_TASKS > 1."""
    count = _int(env, "SLURM_STEP_NUM_TASKS")
    needed = ["SLURM_PROCID"]
    if "SEQREC_COORDINATOR" not in env:
        needed.append("SLURM_STEP_NODELIST")
        if "SEQREC_COORDINATOR_PORT" not in env:
            needed.append("SLURM_JOB_ID")
    missing = [n for n in needed if n not in env]
    if missing:
        raise ValueError(f"SLURM_STEP_NUM_TASKS={count} but {', '.join(missing)} is not set")
    if "SEQREC_COORDINATOR" in env:
        coordinator = _check_coordinator(env["SEQREC_COORDINATOR"], "SEQREC_COORDINATOR")
    else:
        # The same port range as JAX's own SLURM detection: every task derives the same number.
        port = env.get("SEQREC_COORDINATOR_PORT") or str(61440 + _int(env, "SLURM_JOB_ID") % 4096)
        coordinator = _check_coordinator(f"{first_slurm_host(env['SLURM_STEP_NODELIST'])}:{port}",
                                         "SLURM_STEP_NODELIST / SEQREC_COORDINATOR_PORT")
    group = ProcessGroup(coordinator, count, _int(env, "SLURM_PROCID"), _local_device_ids(env), "SLURM")
    if not 0 <= group.process_id < count:
        raise ValueError(f"SLURM_PROCID={group.process_id} must be in 0..{count - 1} (SLURM_STEP_NUM_TASKS={count})")
    # Explicit values may be given as well, but then they must say the same thing.
    for name, slurm_name, value in (("SEQREC_NUM_PROCESSES", "SLURM_STEP_NUM_TASKS", group.num_processes),
                                    ("SEQREC_PROCESS_ID", "SLURM_PROCID", group.process_id)):
        if name in env and _int(env, name) != value:
            raise ValueError(f"{name}={env[name]} contradicts {slurm_name}={env[slurm_name]}")
    return group


def _explicit(env: Mapping[str, str]) -> ProcessGroup | None:
    given = [n for n in EXPLICIT if n in env]
    count = _int(env, "SEQREC_NUM_PROCESSES") if "SEQREC_NUM_PROCESSES" in env else None
    if count is not None and count < 1:
        raise ValueError(f"SEQREC_NUM_PROCESSES={count} must be at least 1")
    if count == 1:
        if "SEQREC_PROCESS_ID" in env and _int(env, "SEQREC_PROCESS_ID") != 0:
            raise ValueError(f"SEQREC_PROCESS_ID={env['SEQREC_PROCESS_ID']} contradicts SEQREC_NUM_PROCESSES=1")
        return None
    missing = [n for n in EXPLICIT if n not in env]
    if missing:
        raise ValueError(f"{', '.join(given)} set but {', '.join(missing)} not: a multi-process run needs all of "
                         f"{', '.join(EXPLICIT)} (or SEQREC_NUM_PROCESSES=1 for a single process)")
    process_id = _int(env, "SEQREC_PROCESS_ID")
    if not 0 <= process_id < count:
        raise ValueError(f"SEQREC_PROCESS_ID={process_id} must be in 0..{count - 1} (SEQREC_NUM_PROCESSES={count})")
    coordinator = _check_coordinator(env["SEQREC_COORDINATOR"], "SEQREC_COORDINATOR")
    return ProcessGroup(coordinator, count, process_id, _local_device_ids(env), "SEQREC_*")


def process_group_from_env(env: Mapping[str, str] | None = None) -> ProcessGroup | None:
    """The process group the environment asks for; None for a single process. Raises ValueError naming
    the variables when they are partial or contradict each other."""
    env = os.environ if env is None else env
    if "SLURM_STEP_NUM_TASKS" in env and _int(env, "SLURM_STEP_NUM_TASKS") > 1:
        return _slurm(env)
    if any(n in env for n in EXPLICIT):
        # Explicit variables win over a single-task SLURM job (multiprocess.sh inside an allocation).
        group = _explicit(env)
        if group is not None:
            return group
    elif "SLURM_STEP_NUM_TASKS" not in env and "SLURM_NTASKS" in env and _int(env, "SLURM_NTASKS") > 1:
        # A multi-task allocation but not an srun task: someone forgot srun, and each of the processes they
        # meant to start would train alone on the whole data.
        raise ValueError(f"SLURM_NTASKS={env['SLURM_NTASKS']} but this process was not started by srun "
                         "(SLURM_STEP_NUM_TASKS is unset): launch it with srun (see launch/slurm_train.sbatch), "
                         "or set SEQREC_NUM_PROCESSES=1 to train in this single process")
    stray = [n for n in ("SEQREC_LOCAL_DEVICE_IDS", "SEQREC_COORDINATOR_PORT", "SEQREC_COORDINATOR_BIND") if n in env]
    if stray:
        raise ValueError(f"{', '.join(stray)} set, but no multi-process run is configured: set "
                         f"{', '.join(EXPLICIT)} or launch with srun")
    return None


def coordinator_bind_address(group: ProcessGroup, env: Mapping[str, str] | None = None) -> str:
    """Where process 0's coordinator service listens: SEQREC_COORDINATOR_BIND if set, else the coordinator
    address itself (host and port), never JAX's all-interfaces default."""
    env = os.environ if env is None else env
    if env.get("SEQREC_COORDINATOR_BIND"):
        return _check_coordinator(env["SEQREC_COORDINATOR_BIND"], "SEQREC_COORDINATOR_BIND")
    return group.coordinator


_initialized: ProcessGroup | None = None


def initialize_from_env(env: Mapping[str, str] | None = None) -> ProcessGroup | None:
    """Join the process group the environment describes (before anything touches a JAX device).

    Returns the group, or None for a single process (JAX left untouched). Calling it again is a no-op."""
    global _initialized
    group = process_group_from_env(env)
    if group is None or _initialized is not None:
        return _initialized
    import jax

    env = os.environ if env is None else env
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in env:
        # CPU devices of different processes talk through gloo (also jax 0.10's default; explicit so that a
        # change of default cannot turn CPU runs into single-process collectives that fail at the first step).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=group.coordinator, num_processes=group.num_processes, process_id=group.process_id,
        local_device_ids=list(group.local_device_ids) if group.local_device_ids is not None else None,
        coordinator_bind_address=coordinator_bind_address(group, env),
        # The group is fully specified above; JAX must not override it from SLURM/MPI variables.
        cluster_detection_method="deactivate")
    _initialized = group
    # No device counts here: asking for them would start the backends before the caller's own settings.
    logging.getLogger(__name__).info("process %d of %d (from the %s variables), coordinator %s", group.process_id,
                                     group.num_processes, group.source, group.coordinator)
    return group


def initialize_or_exit() -> ProcessGroup | None:
    """initialize_from_env() for entry points: a bad variable ends the program with its message."""
    from launch.common import run_guarded
    return run_guarded(initialize_from_env)
