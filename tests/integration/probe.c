/* A static helper for tests/integration/security.rs: makes one raw system call that a contained
 * process must not be able to make (or must), and prints "OK" or the errno's name. Built by the
 * tests with `cc -static`; busybox has no way to make these calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

static int report(long ret) {
    if (ret >= 0) {
        puts("OK");
        return 0;
    }
    const char *name = strerrorname_np(errno);
    puts(name ? name : "UNKNOWN");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: probe CALL [ARGS]\n");
        return 2;
    }
    const char *call = argv[1];
    const char *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(call, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring, creating it */
        return report(syscall(SYS_keyctl, 0, -3, 1));
    if (!strcmp(call, "add_key"))
        return report(syscall(SYS_add_key, "user", "berth-probe", "x", 1, -3));
    if (!strcmp(call, "unshare-user"))
        return report(unshare(CLONE_NEWUSER));
    if (!strcmp(call, "unshare-mount"))
        return report(unshare(CLONE_NEWNS));
    if (!strcmp(call, "clone-newuser")) { /* clone(2) with a namespace flag */
        long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        return report(pid);
    }
    if (!strcmp(call, "clone3")) /* size 0 is invalid: EINVAL when the call is reached at all */
        return report(syscall(SYS_clone3, NULL, 0));
    if (!strcmp(call, "init_module"))
        return report(syscall(SYS_init_module, "", 0, ""));
    if (!strcmp(call, "finit_module"))
        return report(syscall(SYS_finit_module, 0, "", 0));
    if (!strcmp(call, "ptrace")) /* attach to a pid */
        return report(ptrace(PTRACE_ATTACH, atoi(arg), 0, 0));
    if (!strcmp(call, "open-write"))
        return report(open(arg, O_WRONLY));
    if (!strcmp(call, "open-read"))
        return report(open(arg, O_RDONLY));
    if (!strcmp(call, "mount-tmpfs"))
        return report(mount("none", arg, "tmpfs", 0, NULL));
    if (!strcmp(call, "vsock"))
        return report(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
    if (!strcmp(call, "personality")) /* READ_IMPLIES_EXEC: not among the allowed values */
        return report(personality(READ_IMPLIES_EXEC));
    if (!strcmp(call, "mknod-open")) { /* mknod PATH b|c MAJOR:MINOR, then open it for reading */
        unsigned maj = 0, min = 0;
        if (argc < 5 || sscanf(argv[4], "%u:%u", &maj, &min) != 2)
            return 2;
        mode_t type = argv[3][0] == 'b' ? S_IFBLK : S_IFCHR;
        if (mknod(arg, type | 0600, makedev(maj, min)) < 0)
            return report(-1);
        return report(open(arg, O_RDONLY | O_NONBLOCK));
    }
    fprintf(stderr, "probe: unknown call %s\n", call);
    return 2;
}
