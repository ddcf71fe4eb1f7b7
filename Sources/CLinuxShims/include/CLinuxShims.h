#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <pthread.h>
/* accept4 is a GNU extension: Glibc's Swift overlay does not expose it. */
int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* Socket type flags are an anonymous enum in glibc; combine them here so Swift sees plain ints. */
static inline int clinux_socket_stream(int domain) {
    return socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}
static inline int clinux_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len) {
    return clinux_accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
static inline int clinux_eventfd_nonblocking(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline int clinux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
/* glibc's mallopt(M_ARENA_MAX, n): at most n malloc arenas for the whole process. */
#include <malloc.h>
static inline int clinux_malloc_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }
/* send(2) without SIGPIPE on a socket whose peer went away. */
static inline ssize_t clinux_send(int fd, const void *buf, size_t len) { return send(fd, buf, len, MSG_NOSIGNAL); }
#endif
#endif
