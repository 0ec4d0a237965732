"""An app that replaces itself (--pid-file, MAINPID=): what podvisor does
with the successor afterwards. The successor keeps the first child's
process group, and its workers with it; a restart kills and awaits that
group, and a successor adopted during the drain gets the stop signal."""
import os
import signal

from conftest import Podvisor, free_port, proc_state, wait_for
from test_notify_admin import post

# The first child starts a worker, then a successor, names the successor in
# the pid file and exits: the successor and the worker stay in its group.
REPLACES_ITSELF = r"""
d="$1"
rm -f "$d/app.pid"
sleep 1000 &
echo $! > "$d/worker.pid"
D="$d" sh -c 'trap "exit 0" TERM; echo $$ > "$D/app.pid"; while :; do sleep 0.05; done' &
while [ ! -s "$d/app.pid" ]; do sleep 0.01; done
exit 0
"""

# On the stop signal it hands over to a successor (named in the pid file)
# instead of stopping: the successor must get the stop signal too.
HANDS_OVER_ON_TERM = r"""
d="$1"
trap 'D="$d" sh -c "trap \"exit 0\" TERM; echo \$\$ > \"\$D/app.pid\"; while :; do sleep 0.05; done" &
      while [ ! -s "$d/app.pid" ]; do sleep 0.01; done; exit 0' TERM
echo started
while :; do sleep 0.05; done
"""


def alive(pid):
    # proc_state: the pid may be reaped between any two looks at it.
    return proc_state(pid) not in ("", "Z")


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def test_a_restart_after_a_succession_kills_the_group_the_successor_kept(tmp_path):
    """The group of a successor is the first child's (the successor's pid is
    no group's id): a restart kills what is left in it, so the old workers
    do not live on serving the old config."""
    admin = free_port()
    script = tmp_path / "app.sh"
    script.write_text(REPLACES_ITSELF)
    with Podvisor(["--probe-listen", "off", "--admin-listen", f"127.0.0.1:{admin}",
                   "--pid-file", str(tmp_path / "app.pid"), "--", "sh", str(script),
                   str(tmp_path)], pid1=False) as pv:
        worker = wait_for(lambda: read_pid(tmp_path / "worker.pid"), what="the worker")
        wait_for(lambda: "supervising it instead of" in pv.stderr_so_far(),
                 what="the succession", err=pv.stderr_so_far)
        assert alive(worker)
        os.unlink(tmp_path / "worker.pid")
        assert post(admin, "/restart")[0] == 202
        wait_for(lambda: not alive(worker), what="the old worker killed with its group",
                 err=pv.stderr_so_far)
        wait_for(lambda: read_pid(tmp_path / "worker.pid"), what="the next child's worker",
                 err=pv.stderr_so_far)
        wait_for(lambda: pv.stderr_so_far().count("supervising it instead of") == 2,
                 what="the next child's succession", err=pv.stderr_so_far)
        assert pv.proc.poll() is None, pv.stderr_so_far()  # the pod goes on


def test_a_successor_adopted_during_the_drain_gets_the_stop_signal(tmp_path):
    """The stop signal went to the first child, which handed over: the
    successor gets its own, and podvisor exits with its 0, not 137 after
    the stop timeout's SIGKILL."""
    script = tmp_path / "app.sh"
    script.write_text(HANDS_OVER_ON_TERM)
    with Podvisor(["--probe-listen", "off", "--stop-timeout", "3s", "--pid-file",
                   str(tmp_path / "app.pid"), "--", "sh", str(script), str(tmp_path)]) as pv:
        assert pv.readline() == "started"
        pv.signal(signal.SIGTERM)
        rc = pv.wait(timeout=20)
        assert rc == 0, pv.stderr
        assert "--stop-timeout" not in pv.stderr, pv.stderr


def test_a_pid_file_naming_an_exec_check_is_not_followed(tmp_path):
    """An exec check is podvisor's own process: a pid file that names one
    (here the check writes it) is refused, or its exit would end the pod."""
    pid_file = tmp_path / "app.pid"
    with Podvisor(["--probe-listen", "off", "--check-interval", "200ms", "--ready-check",
                   f"exec:sh -c 'echo $$ > {pid_file}; sleep 1'", "--pid-file", str(pid_file),
                   "--", "sleep", "60"], pid1=False) as pv:
        wait_for(lambda: "it is podvisor's exec check" in pv.stderr_so_far(), timeout=15,
                 what="the refusal", err=pv.stderr_so_far)
        assert "supervising it instead" not in pv.stderr_so_far()
        assert pv.proc.poll() is None


def test_a_successor_named_during_a_restart_is_said_not_followed(tmp_path):
    """During a restart a named successor is not taken (the restart
    replaces the child and its group): the log said "supervising it
    instead" all the same."""
    admin = free_port()
    script = tmp_path / "app.sh"
    script.write_text(HANDS_OVER_ON_TERM)
    with Podvisor(["--probe-listen", "off", "--admin-listen", f"127.0.0.1:{admin}",
                   "--pid-file", str(tmp_path / "app.pid"), "--", "sh", str(script),
                   str(tmp_path)]) as pv:
        assert pv.readline() == "started"
        assert post(admin, "/restart")[0] == 202
        assert pv.readline(timeout=15) == "started"  # the restart's new child
        assert pv.says("not followed, podvisor is restarting")
        assert "supervising it instead" not in pv.stderr_so_far(), pv.stderr_so_far()
