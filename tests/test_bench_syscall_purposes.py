"""What the benchmark says kplan's syscalls are for (``bench/syscall_purposes``).

Lines as strace writes them for an apply (a directory, a file, the journal, the
worker's hand-off), each call counted once, a call cut by another thread's joined
to its end, a descriptor's close counted for what it was opened for.
"""

from __future__ import annotations

from bench.syscall_purposes import PURPOSES, purposes

TRACE = """\
17590 openat(AT_FDCWD, "/r", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 6
17590 openat(AT_FDCWD, "/j/.kplan-locks", O_RDONLY|O_NOFOLLOW|O_DIRECTORY) = 7
17590 openat(7, "root.k.lock", O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0600) = 8
17590 close(7)                          = 0
17590 flock(8, LOCK_EX|LOCK_NB)         = 0
17590 pwrite64(8, "17590               \\n", 21, 0) = 21
17590 openat(AT_FDCWD, "/j/journal", O_WRONLY|O_CREAT|O_EXCL|O_APPEND, 0600) = 7
17590 write(7, "{\\"kind\\":\\"begin\\",\\"format\\":2,\\"plan"..., 245) = 245
17591 futex(0x7f23d194e6f4, FUTEX_WAKE_PRIVATE, 1 <unfinished ...>
17590 newfstatat(6, "k", 0x7ffff97c9580, AT_SYMLINK_NOFOLLOW) = -1 ENOENT (No such file)
17591 <... futex resumed>)              = 1
17591 mkdirat(6, ".kplan-a5fee5b0fc8f-0", 0755) = 0
17591 openat(6, ".kplan-a5fee5b0fc8f-0", O_RDONLY|O_NOFOLLOW|O_DIRECTORY) = 9
17591 newfstatat(9, "", {st_mode=S_IFDIR|0755, st_size=40, ...}, AT_EMPTY_PATH) = 0
17591 renameat2(6, ".kplan-a5fee5b0fc8f-0", 6, "k", RENAME_NOREPLACE) = 0
17591 openat(9, ".kplan-a5fee5b0fc8f-1", O_RDWR|O_CREAT|O_EXCL, 0644 <unfinished ...>
17590 epoll_wait(3,  <unfinished ...>
17591 <... openat resumed>)             = 10
17591 newfstatat(10, "", {st_mode=S_IFREG|0644, st_size=0, ...}, AT_EMPTY_PATH) = 0
17591 write(10, "export PS1=\\"\\\\[\\\\033[01;32m\\\\]\\\\u@${"..., 888) = 888
17591 renameat2(9, ".kplan-a5fee5b0fc8f-1", 9, ".bashrc", RENAME_NOREPLACE) = 0
17591 fchown(10, 1001, 1001)            = 0
17591 write(7, "{\\"kind\\":\\"done\\",\\"index\\":1,\\"second"..., 600) = 600
17590 <... epoll_wait resumed>[], 1, 0) = 0
17591 close(10)                         = 0
17591 close(9)                          = 0
17591 +++ exited with 0 +++
"""


def test_each_call_is_counted_once_for_what_it_does() -> None:
    counts = purposes(TRACE.splitlines())
    assert set(counts) <= set(PURPOSES)
    assert counts == {
        # the root's and the new directory's descriptors, and the latter's close
        "descriptors": 3,
        # the lock (its directory, file, close, flock, pid), the journal's open
        # and its two records
        "journal": 8,
        "runtime": 2,  # the futex and the event loop's wait, each once
        "observe": 1,
        # mkdirat, the file's exclusive create, its content, its owner, its close
        "tree": 5,
        "identity": 2,
        "staging": 2,
    }
