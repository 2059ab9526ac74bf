/* A static UDP helper for tests/integration/rootless_net.rs (busybox has no UDP server or
 * client applet):
 *   udp_echo serve PORT          answers every datagram on 0.0.0.0:PORT with "echo:" + it
 *   udp_echo ask ADDR PORT TEXT  sends TEXT, prints the answer; exit 1 after 2 s of silence
 * Built by the tests with `cc -static`. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[2048];
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        return 2;
    }
    if (argc == 3 && strcmp(argv[1], "serve") == 0) {
        struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
            perror("bind");
            return 2;
        }
        for (;;) {
            struct sockaddr_in peer;
            socklen_t len = sizeof peer;
            ssize_t n = recvfrom(fd, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&peer, &len);
            if (n < 0)
                continue;
            memcpy(buf, "echo:", 5);
            sendto(fd, buf, n + 5, 0, (struct sockaddr *)&peer, len);
        }
    }
    if (argc == 5 && strcmp(argv[1], "ask") == 0) {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
            fprintf(stderr, "bad address %s\n", argv[2]);
            return 2;
        }
        struct timeval timeout = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        sendto(fd, argv[4], strlen(argv[4]), 0, (struct sockaddr *)&to, sizeof to);
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n < 0)
            return 1;
        buf[n] = 0;
        puts(buf);
        return 0;
    }
    fprintf(stderr, "usage: udp_echo serve PORT | ask ADDR PORT TEXT\n");
    return 2;
}
