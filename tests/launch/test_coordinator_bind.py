"""The JAX coordinator listens on the coordinator's own address, not on every interface (issue 41)."""

import os
import pathlib
import socket
import subprocess
import sys

import pytest

from launch.distributed import ProcessGroup, coordinator_bind_address, process_group_from_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRUB = ("SEQREC_", "SLURM_", "JAX_COORDINATOR", "XLA_FLAGS", "JAX_PLATFORMS")

# Process 0 reports the addresses listening on the coordinator port (from /proc/net/tcp and tcp6) once the
# group is up; process 1 only joins.
WORKER = """
import os, pathlib, sys
from launch.distributed import initialize_from_env
group = initialize_from_env()
port = int(os.environ["SEQREC_COORDINATOR"].rsplit(":", 1)[1])
if group.process_id == 0:
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.append(address)
    print("LISTEN", " ".join(sorted(listening)), flush=True)
import jax
jax.distributed.shutdown()
"""


def test_bind_address_is_the_coordinator_or_the_override():
    srun = {"SLURM_JOB_ID": "4100", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "0",
            "SLURM_STEP_NODELIST": "gpu[007-008]"}
    group = process_group_from_env(srun)
    assert coordinator_bind_address(group, srun) == f"gpu007:{61440 + 4100 % 4096}"
    explicit = ProcessGroup("10.0.0.1:1234", 2, 0, None, "SEQREC_*")
    assert coordinator_bind_address(explicit, {}) == "10.0.0.1:1234"
    assert coordinator_bind_address(explicit, {"SEQREC_COORDINATOR_BIND": "10.1.0.1:1234"}) == "10.1.0.1:1234"
    with pytest.raises(ValueError, match="SEQREC_COORDINATOR_BIND='10.1.0.1' must be host:port"):
        coordinator_bind_address(explicit, {"SEQREC_COORDINATOR_BIND": "10.1.0.1"})
    with pytest.raises(ValueError, match="SEQREC_COORDINATOR_BIND set, but no multi-process run"):
        process_group_from_env({"SEQREC_COORDINATOR_BIND": "10.1.0.1:1234"})


LOOPBACK = ("0100007F", "0000000000000000FFFF00000100007F")  # 127.0.0.1 and ::ffff:127.0.0.1 as /proc shows them


@pytest.mark.parametrize("bind, expected", [(None, LOOPBACK), ("[::]", ("00000000000000000000000000000000",))])
def test_a_real_coordinator_listens_where_it_is_told(tmp_path, bind, expected):
    # The default listens on loopback only; the explicit all-interfaces override shows what JAX's own
    # default looked like, so the check can tell the two apart.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUB)}
    env.update(JAX_PLATFORMS="cpu", SEQREC_COORDINATOR=f"127.0.0.1:{port}", SEQREC_NUM_PROCESSES="2")
    if bind:
        env["SEQREC_COORDINATOR_BIND"] = f"{bind}:{port}"
    logs = [open(tmp_path / f"p{i}.log", "w+") for i in range(2)]  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env={**env, "SEQREC_PROCESS_ID": str(i)},
                              stdout=logs[i], stderr=subprocess.STDOUT) for i in range(2)]
    try:
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    out = [(tmp_path / f"p{i}.log").read_text() for i in range(2)]
    for log in logs:
        log.close()
    assert codes == [0, 0], out
    listening = next(line for line in out[0].splitlines() if line.startswith("LISTEN")).split()[1:]
    assert listening and all(address in expected for address in listening), out[0]
