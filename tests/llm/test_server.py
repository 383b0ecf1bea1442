"""The embedded server's life cycle and the launchers: start, health, stop by process group, bad input."""

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from llm.calls import completion_request
from llm.errors import LLMError, ServerUnavailable
from llm.server import LlamaCppServer, connect, default_model_path, default_processes, served_models

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_default_model_is_the_packaged_gguf(llama_server):
    path = default_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    assert llama_server.model_path == path


def test_connect_to_a_running_server_reports_its_model(llama_server):
    assert served_models(llama_server.url) == [llama_server.alias]
    with connect(llama_server.url + "/v1") as endpoint:
        assert (endpoint.url, endpoint.model) == (llama_server.url, llama_server.alias)


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(LLMError, match=rf"{tmp_path / 'nope.gguf'}: GGUF model file not found"):
        LlamaCppServer(tmp_path / "nope.gguf")


def test_a_server_that_dies_at_start_is_reported_with_its_log(llama_server, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    server = LlamaCppServer(broken, startup_timeout=60, log_path=tmp_path / "server.log")
    with pytest.raises(ServerUnavailable, match=rf"exited with code .* before becoming healthy; its log {tmp_path}"):
        server.start()
    assert not server.running()


def test_stop_ends_the_process_group(llama_server, tmp_path):
    server = LlamaCppServer(n_ctx=512, log_path=tmp_path / "server.log")
    with server:
        pid = server.pid
        assert server.running() and served_models(server.url) == [server.alias]
        url = server.url
    assert not server.running()
    with pytest.raises(OSError):
        os.killpg(pid, 0)  # no process of that group is left
    with pytest.raises(ServerUnavailable, match=url):
        served_models(url)


def test_launch_llm_server_prints_its_url_and_stops_on_ctrl_c(llama_server, tmp_path):
    # stderr goes to a file: an undrained pipe could block the launcher; the generous wait below is for
    # a loaded CI machine (shutdown is SIGTERM, at most 10 s, then SIGKILL).
    err = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "launch.llm_server", "--n_ctx=512", "--processes=1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=err, text=True)
    server_pid = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("LLM server ready: url=http://127.0.0.1:"), line + (tmp_path / "stderr.log").read_text()
        url = line.split("url=")[1].split()[0]
        server_pid = int(line.split("pid=")[1].split()[0])
        assert served_models(url) == ["smollm2-135m-instruct"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, (tmp_path / "stderr.log").read_text()
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()  # SIGKILL skips the launcher's cleanup, so its server group is ours to stop
            if server_pid is not None:
                with contextlib.suppress(OSError):
                    os.killpg(server_pid, signal.SIGKILL)
    time.sleep(0.1)
    with pytest.raises(OSError):
        os.killpg(server_pid, 0)


def test_sglang_launcher_builds_the_documented_command(tmp_path):
    model, adapter = tmp_path / "model", tmp_path / "lora"
    model.mkdir()
    adapter.mkdir()
    env = {**os.environ, "PYTHON": "echo", "PORT": "31000"}
    script = str(ROOT / "launch/sglang_server.sh")
    out = subprocess.run(["bash", script, str(model), "--lora", f"ranker={adapter}", "--", "--tp", "2"], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["-m", "sglang.launch_server", "--model-path", str(model), "--host", "127.0.0.1", "--port",
                   "31000", "--enable-lora", "--lora-paths", f"ranker={adapter}", "--tp", "2"]
    bad = subprocess.run(["bash", script, str(model), "--lora", "ranker"], env=env, capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "NAME=DIR" in bad.stderr
    missing = subprocess.run(["bash", script, str(tmp_path / "none")], env=env, capture_output=True, text=True,
                         check=False)
    assert missing.returncode == 2 and "model folder not found" in missing.stderr


def _children(pid: int) -> list[int]:
    return [int(c) for task in pathlib.Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def _gone(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"  # a zombie has exited; only its parent's wait is missing


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_sigkill_of_the_launcher_stops_the_server_and_removes_its_log(llama_server, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "launch.llm_server", "--n_ctx=512", "--processes=1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=(tmp_path / "stderr.log").open("w"), text=True)
    guard = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("LLM server ready"), line + (tmp_path / "stderr.log").read_text()
        url = line.split("url=")[1].split()[0]
        guard = int(line.split("pid=")[1].split()[0])
        [server] = _children(guard)
        argv = pathlib.Path(f"/proc/{guard}/cmdline").read_bytes().split(b"\0")
        log = pathlib.Path(argv[argv.index(b"llm.server_guard") + 2].decode())
        assert log.exists() and str(server) != ""
        proc.kill()  # SIGKILL: the launcher runs no cleanup at all
        proc.wait()
        assert _wait_until(lambda: _gone(server) and _gone(guard), 30), "the server outlived its launcher"
        assert _wait_until(lambda: not log.exists(), 5), f"{log} left behind"
        with pytest.raises(ServerUnavailable):
            served_models(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
        if guard is not None:
            with contextlib.suppress(OSError):
                os.killpg(guard, signal.SIGKILL)


def test_the_server_dies_with_its_guard(llama_server, tmp_path):
    server = LlamaCppServer(n_ctx=512, log_path=tmp_path / "server.log")
    with server:
        [child] = _children(server.pid)
        os.kill(server.pid, signal.SIGKILL)  # the guard itself: its server gets the parent-death signal
        assert _wait_until(lambda: _gone(child), 10), "the server outlived its guard"
        assert not server.running()


def test_several_embedded_processes_behind_one_endpoint(llama_server):
    with connect(processes=2, n_ctx=512) as endpoint:
        assert len(endpoint.urls) == 2 and endpoint.url == endpoint.urls[0]
        for url in endpoint.urls:
            assert served_models(url) == [endpoint.model]
        client = endpoint.client(max_concurrency=2)
        assert all(a.text for a in client.run([completion_request(f"{i}, {i + 1},", max_tokens=3) for i in range(4)]))
    for url in endpoint.urls:
        with pytest.raises(ServerUnavailable):
            served_models(url, timeout=2)


def test_parallel_slots_need_the_llama_server_binary(tmp_path):
    with pytest.raises(LLMError, match="parallel=4: parallel slots need a llama-server binary"):
        LlamaCppServer(parallel=4)
    with pytest.raises(LLMError, match=f"{tmp_path / 'llama-server'}: llama-server binary not found"):
        LlamaCppServer(binary=tmp_path / "llama-server", parallel=4)


def test_launch_llm_server_default_is_the_measured_process_count(llama_server, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "launch.llm_server", "--n_ctx=512"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=(tmp_path / "stderr.log").open("w"), text=True)
    guards = []
    try:
        line = proc.stdout.readline()
        assert line.startswith("LLM server ready"), line + (tmp_path / "stderr.log").read_text()
        urls = line.split("url=")[1].split()[0].split(",")
        guards = [int(p) for p in line.split("pid=")[1].split()[0].split(",")]
        assert len(urls) == len(guards) == default_processes()
        assert all(served_models(url) == ["smollm2-135m-instruct"] for url in urls)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        for guard in guards:
            with contextlib.suppress(OSError):
                os.killpg(guard, signal.SIGKILL)
    assert _wait_until(lambda: all(_gone(g) for g in guards), 10)
