// A Destination written outside the library: backups kept in one folder per month,
// ROOT/YYYY-MM/ after the time in the backup's name (custom names go to ROOT/undated/). Each
// month is a local_directory, so writes stay atomic; one lock at the root covers the tree.
// Usage: custom_destination FOLDER   (exits 0 when the backups made through it verify)
#include <hone/backup.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace hb = hone::backup;
namespace fs = std::filesystem;

class monthly_folders {
 public:
  explicit monthly_folders(fs::path root) : root_(std::move(root)) {}

  hb::stored_entry store(const std::string& name, const std::function<void(hb::writer&)>& produce) {
    return folder(name).store(name, produce);
  }
  std::vector<hb::stored_entry> list() const {
    std::vector<hb::stored_entry> all;
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(root_, ec))  // nothing stored yet: no root, no error
      if (d.is_directory() && d.path().filename().string().front() != '.')
        for (auto& e : hb::local_directory(d.path()).list()) all.push_back(std::move(e));
    return all;
  }
  std::optional<hb::stored_entry> stat(const std::string& name) const { return folder(name).stat(name); }
  std::unique_ptr<hb::reader> open(const std::string& name) const { return folder(name).open(name); }
  void remove(const std::string& name) { folder(name).remove(name); }
  auto lock() { return hb::local_directory(root_).lock(); }

 private:
  hb::local_directory folder(const std::string& name) const {
    auto t = hb::timestamp_from_name(name);
    return hb::local_directory(root_ / (t ? hb::name_timestamp(*t).substr(0, 7) : "undated"));
  }
  fs::path root_;
};
static_assert(hb::Destination<monthly_folders>);

int main(int argc, char** argv) try {
  if (argc != 2) return std::fprintf(stderr, "usage: %s FOLDER\n", argv[0]), 2;
  const fs::path dir = argv[1];
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<std::byte> raw(32, std::byte{0x5a});
  const auto key = hb::database_key::raw(raw);  // a raw key: SQLCipher runs no PBKDF2
  {
    auto db = hb::database::open(dir / "app.db", key, hb::open_mode::create);
    db.exec("CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT)");
    db.exec("INSERT INTO accounts(name) VALUES ('checking'), ('savings')");
  }
  hb::sqlcipher_exporter::options opts;
  opts.counts = {{"accounts", "SELECT COUNT(*) FROM accounts"}};
  opts.key = key;
  hb::BackupRunner runner(hb::sqlcipher_exporter(dir / "app.db", opts), hb::gzip_compressor{},
                          monthly_folders(dir / "backups"), hb::fake_clock{});  // starts 2024-01-15
  const auto january = runner.create();
  runner.clock().advance(std::chrono::days(31));
  const auto february = runner.create();
  runner.create("before-upgrade");
  bool ok = fs::exists(dir / "backups/2024-01" / january.name) && fs::exists(dir / "backups/2024-02" / february.name) &&
            fs::exists(dir / "backups/undated/before-upgrade.db.gz") && runner.list().size() == 3;
  for (const auto& b : runner.list()) {
    const auto v = runner.verify(b.name);
    std::printf("%-40s %s\n", (fs::path(b.path).parent_path().filename() / b.name).c_str(), v.message.c_str());
    ok = ok && v.valid && v.counts["accounts"] == 2;
  }
  const auto pruned = runner.prune(2);  // the January backup is the oldest
  ok = ok && pruned.deleted_names == std::vector<std::string>{january.name} && runner.list().size() == 2;
  std::puts(ok ? "custom destination: ok" : "custom destination: FAILED");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
