// Threads for the CPU searches: a pool kept between calls, and two ways to run work on it.
//
// Why not at::parallel_for: in an extension compiled without OpenMP it runs everything on the
// calling thread (its `omp parallel` pragma sits in a header), and compiling with -fopenmp
// would load a second OpenMP runtime next to the one torch ships. Why not a std::thread per
// worker and call: starting and joining fifteen threads took 0.3-0.5 ms on a 16-core Xeon, as
// long as a whole step of the component search, and a call runs work on threads three times.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pointgroup_ops {

// Threads that wait for work between calls. One call at a time uses the pool (in_use()); the
// threads sleep on a condition variable, so an idle pool costs nothing.
class WorkerPool {
 public:
  // The pool of this process. A child after fork() gets a new one: the parent's threads are not
  // in it. The old one is left as it is (its threads and locks belong to the parent).
  static WorkerPool& of_this_process() {
    static std::atomic<WorkerPool*> current{nullptr};
    WorkerPool* pool = current.load(std::memory_order_acquire);
    if (pool != nullptr && pool->owner_ == getpid()) return *pool;
    WorkerPool* fresh = new WorkerPool(getpid());
    if (current.compare_exchange_strong(pool, fresh, std::memory_order_acq_rel)) return *fresh;
    delete fresh;  // another thread put one in first (no thread of `fresh` was started)
    return *pool;
  }

  std::mutex& in_use() { return in_use_; }

  // Starts threads until `count` wait (fewer if the system refuses more); returns how many do.
  // Only the holder of in_use() calls reserve() and run().
  int64_t reserve(int64_t count) {
    while (static_cast<int64_t>(threads_.size()) < count) {
      const int64_t w = static_cast<int64_t>(threads_.size()) + 1;
      try {
        threads_.emplace_back([this, w, seen = generation_] { serve(w, seen); });
      } catch (...) {
        break;
      }
    }
    return std::min<int64_t>(count, static_cast<int64_t>(threads_.size()));
  }

  // Runs job(1) .. job(helpers) on pool threads (helpers <= reserve()) while the caller runs
  // job(0); returns when all have returned. `job` must not throw.
  void run(int64_t helpers, const std::function<void(int64_t)>& job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      helpers_ = helpers;
      pending_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    job(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  explicit WorkerPool(pid_t owner) : owner_(owner) {}

  // Worker w runs each job published after generation `seen` that has w among its helpers.
  void serve(int64_t w, uint64_t seen) {
    for (;;) {
      const std::function<void(int64_t)>* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (w > helpers_) continue;
        job = job_;
      }
      (*job)(w);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  const pid_t owner_;
  std::mutex in_use_;
  std::mutex mutex_;  // guards what follows
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;  // never joined: the pool lives as long as the process
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t helpers_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
};

// Tells the core that this thread is waiting in a loop.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A barrier for the workers of run_team(): wait() returns once all of them have called it.
// A waiter spins a little (the others are usually close behind), then sleeps. Sleeping matters:
// with as many workers as cores, any other thread that needs a core preempts a worker for a
// time slice, and workers that spin on keep the cores busy, so it waits the whole slice while
// everyone waits for it (16-18 ms calls instead of 5 ms, on a 16-core host, with spinning
// alone). Sleepers leave their cores idle, and the scheduler moves it there.
class Barrier {
 public:
  explicit Barrier(int64_t count) : count_(count) {}
  void wait() {
    const int64_t generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      arrived_.store(0, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mutex_);  // a waiter checks the generation under it
        generation_.fetch_add(1, std::memory_order_release);
      }
      wake_.notify_all();
      return;
    }
    for (int spin = 0; spin < kSpins; ++spin) {
      if (generation_.load(std::memory_order_acquire) != generation) return;
      cpu_relax();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != generation; });
  }

 private:
  static constexpr int kSpins = 4096;  // some tens of microseconds
  const int64_t count_;
  std::atomic<int64_t> arrived_{0}, generation_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
};

// Runs body(w, team, barrier) for w = 0 .. team-1 at the same time, worker 0 on the calling
// thread, where team <= wanted is the number of threads there are: one when another call is
// using the pool. `body` must not throw: the others would wait at the barrier for ever.
template <typename Body>
void run_team(int64_t wanted, const Body& body) {
  WorkerPool& pool = WorkerPool::of_this_process();
  std::unique_lock<std::mutex> use(pool.in_use(), std::try_to_lock);
  const int64_t team = use.owns_lock() ? pool.reserve(wanted - 1) + 1 : 1;
  Barrier barrier(team);
  if (team == 1) return body(0, 1, barrier);
  pool.run(team - 1, [&](int64_t w) { body(w, team, barrier); });
}

// Runs work(w) for w = 0 .. workers-1, spread over the threads of run_team(), and returns when
// all are done, rethrowing the first exception a worker threw (bad_alloc, say).
template <typename Work>
void run_workers(int64_t workers, const Work& work) {
  std::vector<std::exception_ptr> failed(workers);
  run_team(workers, [&](int64_t member, int64_t team, Barrier&) {
    for (int64_t w = member; w < workers; w += team) {
      try {
        work(w);
      } catch (...) {
        failed[w] = std::current_exception();
      }
    }
  });
  for (const std::exception_ptr& e : failed)
    if (e) std::rethrow_exception(e);
}

}  // namespace pointgroup_ops
