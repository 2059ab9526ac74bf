/* A static UDP helper for tests/integration/rootless_net.rs (busybox has no UDP server or
 * client applet):
 *   udp_echo serve PORT          answers every datagram on 0.0.0.0:PORT with "echo:" + it
 *   udp_echo ask ADDR PORT TEXT  sends TEXT, prints the answer; exit 1 after 2 s of silence
 *   udp_echo dns ADDR PORT A     a DNS server on ADDR:PORT answering every query with A
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
    if (argc == 5 && strcmp(argv[1], "dns") == 0) {
        struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        struct in_addr answer;
        if (inet_pton(AF_INET, argv[2], &me.sin_addr) != 1 || inet_pton(AF_INET, argv[4], &answer) != 1) {
            fprintf(stderr, "bad address\n");
            return 2;
        }
        if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
            perror("bind");
            return 2;
        }
        for (;;) {
            struct sockaddr_in peer;
            socklen_t len = sizeof peer;
            ssize_t n = recvfrom(fd, buf, sizeof buf - 32, 0, (struct sockaddr *)&peer, &len);
            if (n < 12)
                continue;
            /* The question ends after its name's labels and QTYPE, QCLASS. */
            size_t at = 12;
            while (at < (size_t)n && buf[at] != 0)
                at += 1 + (unsigned char)buf[at];
            at += 5;
            if (at > (size_t)n)
                continue;
            int is_a = buf[at - 3] == 1 && buf[at - 4] == 0;
            buf[2] = (char)0x81, buf[3] = (char)0x80;         /* a response, recursion available */
            buf[6] = 0, buf[7] = is_a ? 1 : 0;                 /* ANCOUNT */
            buf[8] = buf[9] = buf[10] = buf[11] = 0;           /* no NS, no additional records */
            if (is_a) {
                static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
                memcpy(buf + at, rr, sizeof rr);
                memcpy(buf + at + sizeof rr, &answer, 4);
                at += sizeof rr + 4;
            }
            sendto(fd, buf, at, 0, (struct sockaddr *)&peer, len);
        }
    }
    fprintf(stderr, "usage: udp_echo serve PORT | ask ADDR PORT TEXT | dns ADDR PORT A\n");
    return 2;
}
