/* A static helper for tests/integration/sdnotify.rs: what a container's own sd_notify(3) does,
 * one datagram with argv[1] to the socket $NOTIFY_SOCKET names (busybox has no way to send one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (argc != 2 || !path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fputs("usage: NOTIFY_SOCKET=PATH sd_notify MESSAGE\n", stderr);
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || sendto(fd, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("sd_notify");
        return 1;
    }
    return 0;
}
