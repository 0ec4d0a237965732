"""The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go), as
docs/kubernetes.md describes it, so tests update a "ConfigMap volume" exactly as
the kubelet does:

  1. write every key into a new hidden directory ..YYYY_MM_DD_HH_MM_SS.N
  2. point a new symlink ..data_tmp at it
  3. rename ..data_tmp over ..data (the one atomic step)
  4. create the visible links key -> ..data/key (new keys), remove the
     links of keys that are gone
  5. remove the old timestamped directory
"""
import itertools
import os
import shutil
import time

_seq = itertools.count()


class ConfigMapVolume:
    def __init__(self, path):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)

    def _data_dir(self):
        try:
            return os.readlink(os.path.join(self.path, "..data"))
        except FileNotFoundError:
            return None

    def update(self, files):
        """files: {key: str or bytes}. Keys may hold '/' (items with paths).
        Returns time.monotonic() just after the ..data rename (for bench/)."""
        old = self._data_dir()
        stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
        ts_name = "..%s.%d%09d" % (stamp, os.getpid(), next(_seq))
        ts_dir = os.path.join(self.path, ts_name)
        os.mkdir(ts_dir)
        for key, content in files.items():
            dest = os.path.join(ts_dir, key)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            os.chmod(dest, 0o644)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(ts_name, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))
        renamed = time.monotonic()
        # Visible links: only the top-level name of each key.
        tops = {key.split("/", 1)[0] for key in files}
        for top in tops:
            link = os.path.join(self.path, top)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", top), link)
        for name in os.listdir(self.path):
            if name.startswith(".."):
                continue
            if name not in tops:
                os.unlink(os.path.join(self.path, name))
        if old is not None and old != ts_name:
            shutil.rmtree(os.path.join(self.path, old), ignore_errors=True)
        return renamed
