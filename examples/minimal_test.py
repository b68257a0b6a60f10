"""Runs examples/minimal on a plain SQLite database with a schema of its own (no Hone tables)
in a fresh scratch folder, and checks what it prints and what it leaves in the backup folder.

Usage: minimal_test.py PATH/TO/minimal SCRATCH_FOLDER"""

import gzip
import os
import re
import shutil
import sqlite3
import subprocess
import sys


def main():
    exe, scratch = sys.argv[1], sys.argv[2]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    db = os.path.join(scratch, "notes.sqlite")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE notebooks(id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
        c.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, notebook INTEGER REFERENCES notebooks, body TEXT)")
        c.execute("INSERT INTO notebooks(title) VALUES ('work'), ('home')")
        c.executemany("INSERT INTO notes(notebook, body) VALUES (?, ?)", [(1 + i % 2, "note %d" % i) for i in range(500)])
    folder = os.path.join(scratch, "backups")
    env = dict(os.environ, TMPDIR=scratch)

    outputs = []
    for _ in range(2):
        p = subprocess.run([exe, db, folder], capture_output=True, text=True, timeout=100, env=env)
        print(p.stdout + p.stderr, end="")
        assert p.returncode == 0, "minimal failed (rc=%d)" % p.returncode
        outputs.append(p.stdout)

    first, second = outputs
    m = re.search(r"^created (\S+\.db\.gz) \((\d+) bytes, 2 tables\)$", first, re.M)
    assert m, "no 'created NAME (N bytes, 2 tables)' line"
    name = m.group(1)
    assert re.search(r"^verify %s: valid$" % re.escape(name), first, re.M), "the backup did not verify"
    listed = re.findall(r"^  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  (\S+)$", second, re.M)
    assert len(listed) == 2 and name in listed, "the second run lists both backups: %r" % listed

    with gzip.open(os.path.join(folder, name), "rb") as f:
        restored = os.path.join(scratch, "copy.sqlite")
        with open(restored, "wb") as out:
            shutil.copyfileobj(f, out)
    with sqlite3.connect(restored) as c:
        assert c.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 500
    print("minimal: backup made, listed, verified, and it holds the database")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
