/* A static UDP echo for tests/integration/ports.rs (busybox's nc has no UDP):
 *   udpecho serve PORT          answers every datagram on 0.0.0.0:PORT with "echo:" + it
 *   udpecho send ADDR PORT MSG  sends MSG (again every 200 ms, 10 times at most) and prints
 *                               the first answer; exit 1 without one.
 * Built by the tests with `cc -static`. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int serve(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("udpecho: bind");
        return 1;
    }
    for (;;) {
        char buf[1024];
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            continue;
        memcpy(buf, "echo:", 5);
        sendto(fd, buf, (size_t)n + 5, 0, (struct sockaddr *)&peer, len);
    }
}

static int send_one(const char *host, int port, const char *msg) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "udpecho: bad address %s\n", host);
        return 2;
    }
    struct timeval wait = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    for (int i = 0; i < 10; i++) {
        sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&addr, sizeof addr);
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n >= 0) {
            buf[n] = 0;
            puts(buf);
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "send"))
        return send_one(argv[2], atoi(argv[3]), argv[4]);
    fprintf(stderr, "usage: udpecho serve PORT | udpecho send ADDR PORT MSG\n");
    return 2;
}
