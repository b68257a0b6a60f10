// A scratch file that holds a plain SQLite image without ever putting a decrypted byte on disk:
// every byte is written AES-256-CTR-encrypted under a random key that exists only in this
// process's memory, and SQLite reads the file back through a VFS of our own that decrypts what
// it reads. page_loader uses it to convert an image whose pages it cannot load one by one (a
// plain sqlite3 database has no room for SQLCipher's IV and HMAC) with memory that does not
// grow with the database.
//
// Why encryption without authentication is enough here: the bytes written were already
// authenticated (age's chunk tags proved every byte before it was handed out); the file is
// owner-only, has no name (O_TMPFILE, or unlinked as soon as it is created) and is gone when
// the process closes it, and the key dies with the object. Whoever could change the file's bytes
// between write and read runs as the same user, and could as well change the process's memory.
// Confidentiality against whoever reads the disk afterwards (a backup of the folder, a stolen
// disk, a snapshot taken meanwhile) is what matters, and a fresh random key gives it.
#pragma once

#include <hone/backup/detail/posix.hpp>
#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>

#include <sqlite3.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace hone::backup::detail {

/// AES-256-CTR under a random key that never leaves this object, the counter block being the
/// big-endian number of the 16-byte block a byte offset falls in: any range of the file can be
/// encrypted or decrypted on its own, and one object never uses a counter block twice for
/// different data (each offset of the file is written once).
class offset_cipher {
 public:
  offset_cipher() : ctx_(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free) {
    std::array<unsigned char, 32> key{};
    const bool ok = ctx_ && RAND_priv_bytes(key.data(), static_cast<int>(key.size())) == 1 &&
                    EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_ctr(), nullptr, key.data(), nullptr) == 1;
    OPENSSL_cleanse(key.data(), key.size());  // the key schedule in ctx_ is wiped when it is freed
    if (!ok) throw encryption_error("OpenSSL's AES-256-CTR cannot be set up for a scratch file");
  }
  offset_cipher(const offset_cipher&) = delete;
  offset_cipher& operator=(const offset_cipher&) = delete;

  /// XORs the keystream at byte `offset` of the file onto `n` bytes of `in` into `out` (which
  /// may be `in`): encrypts and decrypts alike. False when OpenSSL fails.
  bool apply(std::uint64_t offset, const std::byte* in, std::byte* out, std::size_t n) noexcept {
    std::array<unsigned char, 16> counter{};
    const std::uint64_t block = offset / 16;
    for (std::size_t i = 0; i < 8; ++i) counter[15 - i] = static_cast<unsigned char>(block >> (8 * i));
    int len = 0;
    if (EVP_EncryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, counter.data()) != 1) return false;
    if (const auto skip = static_cast<int>(offset % 16); skip != 0) {
      std::array<unsigned char, 16> discard{};
      if (EVP_EncryptUpdate(ctx_.get(), discard.data(), &len, discard.data(), skip) != 1) return false;
    }
    while (n > 0) {
      const std::size_t step = std::min<std::size_t>(n, std::size_t{1} << 30);
      if (EVP_EncryptUpdate(ctx_.get(), reinterpret_cast<unsigned char*>(out), &len,
                            reinterpret_cast<const unsigned char*>(in), static_cast<int>(step)) != 1)
        return false;
      in += step;
      out += step;
      n -= step;
    }
    return true;
  }

 private:
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx_;
};

/// A new owner-only file in `dir` that has a name for a moment only: created as
/// create_temp_file() does and unlinked at once, for filesystems without O_TMPFILE. It is named
/// like `beside` when that is a temp file of ours ("-" and six random characters at the end,
/// as the restore's .NAME.restore-XXXXXX), so that the cleanup of stale temp files that takes
/// those (remove_stale_restore_files) would take it too, were the process killed in that
/// moment; else .BESIDE.scratch-XXXXXX. `hook` is told of the name (see create_unique).
inline unique_fd create_unlinked_file(const std::filesystem::path& dir, const std::string& beside,
                                      temp_path::hook_fn hook = {}) {
  const bool temp_name = beside.size() > 7 && beside[beside.size() - 7] == '-';
  const std::string stem = temp_name ? beside.substr(0, beside.size() - 6) : "." + beside + ".scratch-";
  created_temp t = create_temp_file((dir / stem).string(), std::move(hook));
  return std::move(t.fd);  // t.path is unlinked as it goes
}

class sealed_scratch;

/// The VFS behind sealed_scratch, registered with SQLite once per process under a name that
/// holds this object's address (so that two copies of the library in one process never share
/// it). It wraps the default VFS: a file whose name starts with `prefix` is a registered
/// sealed_scratch, opened read-only and immutable, its reads decrypted; every other file (the
/// database a connection on the scratch attaches, say) goes to the default VFS untouched.
class sealed_scratch_vfs {
 public:
  static sealed_scratch_vfs& instance() {
    // Never destroyed: SQLite keeps a pointer to vfs_ until the process ends.
    static sealed_scratch_vfs* const one = new sealed_scratch_vfs();
    return *one;
  }
  const char* name() const noexcept { return name_.c_str(); }
  /// Makes `scratch` openable under a new name, which it returns.
  std::string add(sealed_scratch* scratch) {
    std::lock_guard lock(mutex_);
    std::string n = prefix_ + std::to_string(++count_);
    files_[n] = scratch;
    return n;
  }
  void remove(const std::string& n) noexcept {
    std::lock_guard lock(mutex_);
    files_.erase(n);
  }

 private:
  /// What SQLite allocates (szOsFile) for a file of ours.
  struct file {
    sqlite3_file base;
    sealed_scratch* scratch;
  };

  sealed_scratch_vfs() {
    sqlite3_vfs* def = sqlite3_vfs_find(nullptr);
    if (!def) throw database_error("SQLite has no default VFS");
    char id[32];
    std::snprintf(id, sizeof id, "%p", static_cast<void*>(this));
    name_ = std::string("hone-sealed-scratch-") + id;
    prefix_ = name_ + ":";
    vfs_.iVersion = 2;
    vfs_.szOsFile = std::max(static_cast<int>(sizeof(file)), def->szOsFile);
    vfs_.mxPathname = def->mxPathname;
    vfs_.zName = name_.c_str();
    vfs_.pAppData = def;
    set_calls();
    if (sqlite3_vfs_register(&vfs_, 0) != SQLITE_OK) throw database_error("Cannot register SQLite VFS " + name_);
  }

  static sqlite3_vfs* base(sqlite3_vfs* v) noexcept { return static_cast<sqlite3_vfs*>(v->pAppData); }
  static bool ours(const char* n) noexcept {
    const std::string& p = instance().prefix_;
    return n && std::strncmp(n, p.c_str(), p.size()) == 0;
  }
  static sealed_scratch* find(const char* n) noexcept {
    auto& self = instance();
    std::lock_guard lock(self.mutex_);
    const auto it = self.files_.find(n);
    return it == self.files_.end() ? nullptr : it->second;
  }

  void set_calls() noexcept;
  static const sqlite3_io_methods* io_methods() noexcept;

  std::mutex mutex_;
  std::map<std::string, sealed_scratch*, std::less<>> files_;
  std::uint64_t count_ = 0;
  std::string name_;
  std::string prefix_;
  sqlite3_vfs vfs_{};
};

/// An owner-only scratch file beside another file (`beside`: in the same folder), holding what
/// write() is given encrypted under a fresh random key (offset_cipher), and open() gives a
/// SQLite connection on it that reads it decrypted (sealed_scratch_vfs). The file has no name:
/// created with O_TMPFILE, or, on a filesystem without it, by create_unlinked_file. Its space
/// is freed when the object goes, whatever happened. Only the thread that writes it may use
/// the connection.
class sealed_scratch {
 public:
  explicit sealed_scratch(const std::filesystem::path& beside)
      : dir_(beside.parent_path().empty() ? std::filesystem::path(".") : beside.parent_path()),
        fd_(create_unnamed(dir_, beside.filename().string())),
        buffer_(buffer_size),
        name_(sealed_scratch_vfs::instance().add(this)) {}
  ~sealed_scratch() { sealed_scratch_vfs::instance().remove(name_); }
  sealed_scratch(const sealed_scratch&) = delete;
  sealed_scratch& operator=(const sealed_scratch&) = delete;

  /// Appends `data`, encrypted. Throws io_error (the disk full, say) with the folder's name.
  void write(std::span<const std::byte> data) {
    while (!data.empty()) {
      const std::size_t n = std::min(data.size(), buffer_.size() - used_);
      if (!cipher_.apply(size_ + used_, data.data(), buffer_.data() + used_, n))
        throw encryption_error("OpenSSL's AES-256-CTR failed on a scratch file");
      used_ += n;
      data = data.subspan(n);
      if (used_ == buffer_.size()) flush();
    }
  }

  /// The bytes written so far (all on disk after flush()).
  std::uint64_t size() const noexcept { return size_ + used_; }

  /// A connection, without a key, on what was written: a plain SQLite database, read-only
  /// (the VFS opens it so), while the files the connection attaches may be written (they
  /// take the connection's open flags). The caller closes it before this object goes.
  db_ptr open() {
    flush();
    quiet_sqlcipher_log();
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(name_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                   sealed_scratch_vfs::instance().name());
    db_ptr db(raw);
    if (rc != SQLITE_OK) throw database_error("Cannot open the scratch copy of the database image: " + errmsg(raw));
    sqlite3_extended_result_codes(raw, 1);
    return db;
  }

  /// Throws io_error when a read of the file failed (SQLite only says "disk I/O error").
  void throw_if_read_failed() const {
    if (read_errno_ != 0)
      throw io_error("Cannot read the scratch copy of the database image in " + dir_.string() + ": " +
                     errno_text(read_errno_));
  }

  /// The descriptor of the file (for tests that look at its bytes).
  int descriptor() const noexcept { return fd_.get(); }

  /// Reads `n` bytes at `offset`, decrypted; SQLite's xRead.
  int read(void* buf, int n, sqlite3_int64 offset) noexcept {
    auto* out = static_cast<std::byte*>(buf);
    const auto want = static_cast<std::size_t>(n);
    std::size_t got = 0;
    while (got < want) {
      const ssize_t r = ::pread(fd_.get(), out + got, want - got, static_cast<off_t>(offset) + static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        read_errno_ = errno;
        return SQLITE_IOERR_READ;
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (!cipher_.apply(static_cast<std::uint64_t>(offset), out, out, got)) return SQLITE_IOERR_READ;
    if (got == want) return SQLITE_OK;
    std::memset(out + got, 0, want - got);  // as SQLite requires of a short read
    return SQLITE_IOERR_SHORT_READ;
  }

 private:
  static constexpr std::size_t buffer_size = std::size_t{256} << 10;

  static unique_fd create_unnamed(const std::filesystem::path& dir, const std::string& beside) {
#ifdef O_TMPFILE
    // O_EXCL: the file can never be given a name (linkat) afterwards.
    unique_fd fd(::open(dir.c_str(), O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
    if (fd) return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
      throw io_error("Cannot create a scratch file in " + dir.string() + ": " + errno_text(errno));
#endif
    return create_unlinked_file(dir, beside);
  }

  void flush() {
    if (used_ == 0) return;
    write_all(
        fd_.get(), std::span<const std::byte>(buffer_.data(), used_),
        "Cannot write the encrypted scratch copy of the database image (as large as the database) in " + dir_.string());
    size_ += used_;
    used_ = 0;
  }

  std::filesystem::path dir_;
  unique_fd fd_;
  offset_cipher cipher_;
  std::vector<std::byte> buffer_;  // ciphertext only
  std::size_t used_ = 0;
  std::uint64_t size_ = 0;  // bytes in the file
  int read_errno_ = 0;
  std::string name_;
};

inline const sqlite3_io_methods* sealed_scratch_vfs::io_methods() noexcept {
  static const sqlite3_io_methods methods = [] {
    sqlite3_io_methods m{};
    m.iVersion = 1;                                      // no shared memory, no memory mapping
    m.xClose = [](sqlite3_file*) { return SQLITE_OK; };  // the descriptor is sealed_scratch's
    m.xRead = [](sqlite3_file* f, void* buf, int n, sqlite3_int64 offset) {
      return reinterpret_cast<file*>(f)->scratch->read(buf, n, offset);
    };
    m.xWrite = [](sqlite3_file*, const void*, int, sqlite3_int64) { return SQLITE_READONLY; };
    m.xTruncate = [](sqlite3_file*, sqlite3_int64) { return SQLITE_READONLY; };
    m.xSync = [](sqlite3_file*, int) { return SQLITE_OK; };
    m.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
      *size = static_cast<sqlite3_int64>(reinterpret_cast<file*>(f)->scratch->size());
      return SQLITE_OK;
    };
    m.xLock = [](sqlite3_file*, int) { return SQLITE_OK; };
    m.xUnlock = [](sqlite3_file*, int) { return SQLITE_OK; };
    m.xCheckReservedLock = [](sqlite3_file*, int* out) {
      *out = 0;
      return SQLITE_OK;
    };
    m.xFileControl = [](sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; };
    m.xSectorSize = [](sqlite3_file*) { return 4096; };
    // Nothing else writes it: no locks, no journal to look for.
    m.xDeviceCharacteristics = [](sqlite3_file*) { return SQLITE_IOCAP_IMMUTABLE; };
    return m;
  }();
  return &methods;
}

inline void sealed_scratch_vfs::set_calls() noexcept {
  vfs_.xOpen = [](sqlite3_vfs* v, const char* n, sqlite3_file* f, int flags, int* out_flags) {
    if (!ours(n)) return base(v)->xOpen(base(v), n, f, flags, out_flags);
    f->pMethods = nullptr;
    sealed_scratch* s = find(n);
    if (!s || (flags & SQLITE_OPEN_MAIN_DB) == 0) return SQLITE_CANTOPEN;
    auto* mine = new (f) file{};
    mine->scratch = s;
    mine->base.pMethods = io_methods();
    if (out_flags) *out_flags = SQLITE_OPEN_READONLY;  // whatever the connection asked for
    return SQLITE_OK;
  };
  vfs_.xDelete = [](sqlite3_vfs* v, const char* n, int sync) {
    return ours(n) ? SQLITE_OK : base(v)->xDelete(base(v), n, sync);
  };
  vfs_.xAccess = [](sqlite3_vfs* v, const char* n, int flags, int* out) {
    if (!ours(n)) return base(v)->xAccess(base(v), n, flags, out);
    *out = 0;  // a scratch has no journal or WAL beside it
    return SQLITE_OK;
  };
  vfs_.xFullPathname = [](sqlite3_vfs* v, const char* n, int size, char* out) {
    if (!ours(n)) return base(v)->xFullPathname(base(v), n, size, out);
    sqlite3_snprintf(size, out, "%s", n);
    return SQLITE_OK;
  };
  vfs_.xDlOpen = [](sqlite3_vfs* v, const char* n) { return base(v)->xDlOpen(base(v), n); };
  vfs_.xDlError = [](sqlite3_vfs* v, int n, char* msg) { base(v)->xDlError(base(v), n, msg); };
  vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* sym) { return base(v)->xDlSym(base(v), h, sym); };
  vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { base(v)->xDlClose(base(v), h); };
  vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) { return base(v)->xRandomness(base(v), n, out); };
  vfs_.xSleep = [](sqlite3_vfs* v, int us) { return base(v)->xSleep(base(v), us); };
  vfs_.xCurrentTime = [](sqlite3_vfs* v, double* t) { return base(v)->xCurrentTime(base(v), t); };
  vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* msg) {
    return base(v)->xGetLastError ? base(v)->xGetLastError(base(v), n, msg) : 0;
  };
  vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* t) {
    if (base(v)->iVersion >= 2 && base(v)->xCurrentTimeInt64) return base(v)->xCurrentTimeInt64(base(v), t);
    double d = 0;
    const int rc = base(v)->xCurrentTime(base(v), &d);
    *t = static_cast<sqlite3_int64>(d * 86400000.0);
    return rc;
  };
}

}  // namespace hone::backup::detail
