// sha256File(path, encoding): the SHA-256 digest of a file's contents, as 32 bytes. The file is
// opened and read here, on the pool thread, in large reads straight into a per-thread buffer:
// hashing a directory of files never touches the JS thread or a JS buffer. The encoding is
// applied in JS (src-ts/kernels/sha256File.ts, whose JS twin reads with node:fs).
//
// Failures are SystemErrors carrying errno, the system call and the path, which JS turns into
// the errors Node's fs functions throw ("ENOENT: no such file or directory, open '/x'"). A
// directory fails with EISDIR from "read", as reading one does on Linux; the fstat() check
// makes that so on every system, some of which let read() succeed on a directory.
//
// Only regular files (and block devices, which read like one) are hashed. A FIFO, socket or
// character device fails with EINVAL from "open": reading one can block for ever (a FIFO nobody
// writes to) or never end (/dev/zero), and a pool thread stuck in a system call cannot be
// cancelled, so it would hold its pool's slot, and terminate(), for good. For the same reason
// the file is opened with O_NONBLOCK: open() of a FIFO with no writer blocks until one comes,
// before fstat() could look at it. The flag is cleared again once the file is known to be
// regular (where it means nothing, but reads should not depend on that).
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#ifdef _WIN32
#include <io.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "../kernel.hpp"
#include "../sha256/sha256.hpp"

namespace spindle {

namespace {

#ifdef _WIN32
// The CRT's POSIX-style calls, in binary mode. (Windows is not tested: CI runs on Linux.)
using ssize_t = long long;
enum class Kind { Readable, Directory, Other };
int open_read_only(const char* path) { return ::_open(path, _O_RDONLY | _O_BINARY | _O_NOINHERIT); }
ssize_t read_some(int fd, void* buffer, size_t size) { return ::_read(fd, buffer, static_cast<unsigned>(size)); }
void close_file(int fd) { ::_close(fd); }
// What the open file is; Other with *error set when fstat fails.
Kind kind_of(int fd, int* error) {
  struct _stat64 st;
  if (::_fstat64(fd, &st) != 0) return *error = errno, Kind::Other;
  if ((st.st_mode & _S_IFMT) == _S_IFDIR) return Kind::Directory;
  return (st.st_mode & _S_IFMT) == _S_IFREG ? Kind::Readable : Kind::Other;
}
bool make_blocking(int, int*) { return true; }
#else
enum class Kind { Readable, Directory, Other };
// O_NONBLOCK: see the header comment. O_NOCTTY: a terminal device must never become ours.
int open_read_only(const char* path) { return ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); }
ssize_t read_some(int fd, void* buffer, size_t size) { return ::read(fd, buffer, size); }
void close_file(int fd) { ::close(fd); }
#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))
// fstat(2) by its system call: glibc 2.33 turned fstat from an inline wrapper (over __fxstat64)
// into a function new at GLIBC_2.33, which no older glibc has; the prebuilds' floor is GLIBC_2.17
// (glibc_floor.hpp). On these 64-bit targets the kernel's struct stat is glibc's, which is why
// glibc's own fstat was this one system call before 2.33.
#ifdef __x86_64__
static_assert(sizeof(struct stat) == 144, "x86_64's kernel struct stat (asm/stat.h) is 144 bytes");
#else
static_assert(sizeof(struct stat) == 128, "aarch64's kernel struct stat (asm-generic/stat.h) is 128 bytes");
#endif
int fstat_of(int fd, struct stat* st) { return static_cast<int>(::syscall(SYS_fstat, fd, st)); }
#else
int fstat_of(int fd, struct stat* st) { return ::fstat(fd, st); }
#endif
Kind kind_of(int fd, int* error) {
  struct stat st;
  if (fstat_of(fd, &st) != 0) return *error = errno, Kind::Other;
  if (S_ISDIR(st.st_mode)) return Kind::Directory;
  return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ? Kind::Readable : Kind::Other;
}
bool make_blocking(int fd, int* error) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) return *error = errno, false;
  return true;
}
#endif

// Bytes per read(): large enough that system calls cost nothing next to hashing (~0.1 ms of
// SHA-NI per read), small enough to stay in L2 between the copy and the hash, and a cancel
// check per read: at most ~1 ms of hashing (portable path) plus one read from a local disk
// between two checks.
constexpr size_t kReadBytes = size_t(256) << 10;

// An open file descriptor, closed when it goes out of scope (on errors, cancellation or success).
class OpenFile {
 public:
  explicit OpenFile(const std::string& path) {
    do fd_ = open_read_only(path.c_str());
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) throw SystemError(errno, "open", path);
  }
  ~OpenFile() { close_file(fd_); }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

class Sha256FileCall final : public Call {
 public:
  explicit Sha256FileCall(std::string path) : path_(std::move(path)) {}

  void run(uint64_t, const CallContext& ctx) override {
    OpenFile file(path_);
    int error = 0;
    switch (kind_of(file.fd(), &error)) {
      case Kind::Directory:
        throw SystemError(EISDIR, "read", path_);
      case Kind::Other:
        if (error != 0) throw SystemError(error, "fstat", path_);
        throw SystemError(EINVAL, "open", path_);  // a FIFO, socket or character device
      case Kind::Readable:
        break;
    }
    if (!make_blocking(file.fd(), &error)) throw SystemError(error, "fcntl", path_);
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint: deeper read-ahead on cold files
#endif
    thread_local std::vector<uint8_t> buffer(kReadBytes);  // each pool thread's own, reused by every file
    Sha256 hasher;
    for (;;) {
      if (ctx.cancelled()) return;  // the job's result is discarded
      const ssize_t n = read_some(file.fd(), buffer.data(), buffer.size());
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        throw SystemError(errno, "read", path_);
      }
      hasher.update(buffer.data(), static_cast<size_t>(n));
      ctx.add_progress(n);
    }
    hasher.final(digest_);
  }

  Result finish() override { return Result::of_bytes(std::vector<uint8_t>(digest_, digest_ + kSha256DigestBytes)); }

 private:
  const std::string path_;
  uint8_t digest_[kSha256DigestBytes] = {};
};

}  // namespace

// (path, encoding?): the path's bytes as a view (src-ts/kernels/sha256File.ts makes it absolute),
// and the encoding code that sha256.cpp checks too.
std::unique_ptr<Call> make_sha256_file(const Arg* args, size_t count) {
  using T = ArgumentError::Type;
  if (count < 1 || count > 2) {
    throw ArgumentError(T::TypeError, "sha256File takes 1 to 2 arguments (path, encoding?), got " + std::to_string(count));
  }
  if (args[0].kind != Arg::Kind::View) throw ArgumentError(T::TypeError, "sha256File: path must be a Uint8Array of the path's bytes");
  std::string path(reinterpret_cast<const char*>(args[0].data), args[0].size);
  if (path.find('\0') != std::string::npos) throw ArgumentError(T::TypeError, "sha256File: path must not contain null bytes");
  if (count == 2 && args[1].kind != Arg::Kind::Undefined &&
      (args[1].kind != Arg::Kind::Number || !(args[1].number == 0 || args[1].number == 1 || args[1].number == 2))) {
    throw ArgumentError(T::RangeError, "sha256File: encoding must be 0 (hex), 1 (base64) or 2 (buffer)");
  }
  return std::make_unique<Sha256FileCall>(std::move(path));
}

}  // namespace spindle
