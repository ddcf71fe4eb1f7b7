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
/* accept4 is a GNU extension: Glibc's Swift overlay does not expose it. */
int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
#endif
#endif
