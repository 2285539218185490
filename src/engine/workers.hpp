// The process's engine workers, and the registry that says which worker
// serves each socket.
//
// N workers (TOU_WORKERS or tou_set_workers(), else one a CPU up to
// kMaxDefaultWorkers) start together on first use. Each is an Engine: its own
// thread, event loop, timer heap, lock, and the connections and UDP sockets it
// owns; no lock is shared by two workers on the data path. A new socket goes
// to one worker (round robin) and stays there; a listener is served by every
// worker (listen.cpp: one UDP socket each, in a SO_REUSEPORT group, so that
// the kernel spreads peers by their addresses and every segment of one peer
// reaches the same worker).
//
// The registry maps a socket (the inode of its program-side descriptor) to
// its worker. A worker records a socket when it makes its descriptor
// (open_socket, an accepted connection) and forgets it when it forgets the
// last of it (the tombstone goes).
//
// Locks, in this order: the workers' start lock (start(), fork), a worker's
// lock (each at most once, in index order), the registry's lock (a leaf).
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "engine/address.hpp"

struct tou_listener_info;

namespace tou::engine {

class Engine;

namespace workers {

// No more workers than this, however many are asked for.
constexpr int kMaxWorkers = 64;
// Without TOU_WORKERS or tou_set_workers(): one a CPU, at most this many.
constexpr int kMaxDefaultWorkers = 4;

// How many workers run or will run: tou_set_workers()'s, else TOU_WORKERS
// (1 to kMaxWorkers), else min(CPUs, kMaxDefaultWorkers).
int wanted();
// Sets the number before the workers start: 0, EINVAL (out of range) or
// EBUSY (they run already).
int set_wanted(int n);

// Starts the workers if they do not run yet; 0 or errno.
int start();
// The workers that run (0 before start(), and in a fork child until it makes
// a socket).
int count();
Engine* at(int i);
// The worker for a new socket (round robin); start() first.
Engine* next();

// The registry.
Engine* owner(ino_t ino);
void record(ino_t ino, Engine* e);
// Forgets the socket if `e` serves it (another worker may have its inode now).
void forget(ino_t ino, Engine* e);
size_t registered();

}  // namespace workers

// The calls that span workers (listen.cpp): listen() on every worker, and
// bind() on the worker that holds the address already (`owner` follows the
// socket there).
int listen_on_workers(Engine& owner, int fd, ino_t ino, int backlog);
int bind_on_workers(Engine*& owner, ino_t ino, const SockAddr& addr);
// A listener's options changed on its worker: every other worker's copy too.
void share_listener_options(Engine& owner, ino_t ino);
// TOU_LISTENER_INFO of the whole group: the owner's, plus every other worker's.
void add_group_listener_stats(Engine& owner, ino_t ino, tou_listener_info& info);
}  // namespace tou::engine
