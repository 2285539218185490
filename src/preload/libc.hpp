// The C library's own socket calls, found with dlsym(RTLD_NEXT): what the shim
// calls for every descriptor that is not a tou socket, and what tou's engine
// reaches through the shim's interposers (see shim.cpp).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

namespace tou::preload::libc {

int socket(int domain, int type, int protocol);
int bind(int fd, const sockaddr* addr, socklen_t len);
int listen(int fd, int backlog);
int accept4(int fd, sockaddr* addr, socklen_t* len, int flags);
int connect(int fd, const sockaddr* addr, socklen_t len);
int shutdown(int fd, int how);
int close(int fd);
int getsockname(int fd, sockaddr* addr, socklen_t* len);
int getpeername(int fd, sockaddr* addr, socklen_t* len);
int setsockopt(int fd, int level, int name, const void* value, socklen_t len);
int getsockopt(int fd, int level, int name, void* value, socklen_t* len);
int dup(int fd);
int dup3(int fd, int fd2, int flags);  // flags 0 behaves as dup2 (fd != fd2)
int dup2(int fd, int fd2);
ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len);
ssize_t sendmsg(int fd, const msghdr* msg, int flags);
ssize_t recv(int fd, void* buf, size_t n, int flags);
ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len);
ssize_t recvmsg(int fd, msghdr* msg, int flags);
ssize_t write(int fd, const void* buf, size_t n);
ssize_t writev(int fd, const iovec* iov, int count);
ssize_t read(int fd, void* buf, size_t n);
ssize_t readv(int fd, const iovec* iov, int count);
ssize_t read_chk(int fd, void* buf, size_t n, size_t buflen);  // glibc's __read_chk

}  // namespace tou::preload::libc
