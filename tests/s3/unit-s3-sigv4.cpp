// The SigV4 signer of the S3 destination: AWS's published examples (the Signature Version 4
// test suite and the S3 API reference's examples), then hundreds of random S3 requests signed
// by botocore (tests/s3/sigv4_botocore.py) and again by the signer. Also the small XML reader.
#include <boost/test/unit_test.hpp>

#include <hone/backup/destinations/s3_destination.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace s3 = hone::backup::detail::s3;

namespace {

const std::string empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The Signature Version 4 test suite's credentials and time.
const char* suite_key = "AKIDEXAMPLE";
const char* suite_secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
// The S3 API reference's ("Examples: Signature Calculations").
const char* s3_key = "AKIAIOSFODNN7EXAMPLE";
const char* s3_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

s3::signature suite(const std::string& method, s3::name_values query = {}) {
  s3::signing_input in;
  in.method = method;
  in.path = "/";
  in.query = std::move(query);
  in.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  in.payload_hash = empty_sha256;
  return s3::sign(in, suite_key, suite_secret, "us-east-1", "service", "20150830T123600Z");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sigv4)

BOOST_AUTO_TEST_CASE(aws_test_suite_get_vanilla) {
  auto s = suite("GET");
  BOOST_TEST(s.canonical_request ==
             "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + empty_sha256);
  BOOST_TEST(s.string_to_sign ==
             "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
             "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  BOOST_TEST(
      s.authorization ==
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

BOOST_AUTO_TEST_CASE(aws_test_suite_post_vanilla) {
  BOOST_TEST(suite("POST").value == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

BOOST_AUTO_TEST_CASE(aws_test_suite_get_vanilla_query_order_key_case) {
  auto s = suite("GET", {{"Param2", "value2"}, {"Param1", "value1"}});
  BOOST_TEST(s.canonical_request.substr(0, 34) == "GET\n/\nParam1=value1&Param2=value2\n");
  BOOST_TEST(s.value == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

BOOST_AUTO_TEST_CASE(s3_reference_get_object) {
  s3::signing_input in;
  in.method = "GET";
  in.path = "/test.txt";
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Range", "bytes=0-9"},
                {"x-amz-content-sha256", empty_sha256},
                {"x-amz-date", "20130524T000000Z"}};
  in.payload_hash = empty_sha256;
  auto s = s3::sign(in, s3_key, s3_secret, "us-east-1", "s3", "20130524T000000Z");
  BOOST_TEST(s.string_to_sign ==
             "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
             "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  BOOST_TEST(s.value == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  BOOST_TEST(s.signed_headers == "host;range;x-amz-content-sha256;x-amz-date");
}

BOOST_AUTO_TEST_CASE(s3_reference_put_object) {
  const std::string body = "Welcome to Amazon S3.";
  s3::signing_input in;
  in.method = "PUT";
  in.path = s3::uri_encode("/test$file.text", true);
  BOOST_TEST(in.path == "/test%24file.text");
  in.payload_hash = s3::sha256_hex(body);
  BOOST_TEST(in.payload_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                {"x-amz-date", "20130524T000000Z"},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                {"x-amz-content-sha256", in.payload_hash}};
  auto s = s3::sign(in, s3_key, s3_secret, "us-east-1", "s3", "20130524T000000Z");
  BOOST_TEST(s.value == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

BOOST_AUTO_TEST_CASE(s3_reference_get_bucket_lifecycle_and_list_objects) {
  auto sign_get = [](s3::name_values query) {
    s3::signing_input in;
    in.method = "GET";
    in.path = "/";
    in.query = std::move(query);
    in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-content-sha256", empty_sha256}};
    in.payload_hash = empty_sha256;
    return s3::sign(in, s3_key, s3_secret, "us-east-1", "s3", "20130524T000000Z");
  };
  BOOST_TEST(sign_get({{"lifecycle", ""}}).value == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  BOOST_TEST(sign_get({{"max-keys", "2"}, {"prefix", "J"}}).value ==
             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

BOOST_AUTO_TEST_CASE(header_values_are_trimmed_and_repeated_names_joined) {
  s3::signing_input in;
  in.method = "GET";
  in.headers = {{"Host", "h"}, {"X-Amz-Meta-A", "  two   words  "}, {"x-amz-meta-b", "1"}, {"X-AMZ-META-B", "2"}};
  in.payload_hash = empty_sha256;
  auto s = s3::sign(in, "k", "s", "auto", "s3", "20240101T000000Z");
  BOOST_TEST(s.canonical_request.find("x-amz-meta-a:two words\nx-amz-meta-b:1,2\n") != std::string::npos);
  BOOST_TEST(s.signed_headers == "host;x-amz-meta-a;x-amz-meta-b");
  BOOST_TEST(s.authorization.find("/20240101/auto/s3/aws4_request") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(matches_botocore_on_random_requests) {
  const char* script = std::getenv("HONE_TEST_SIGV4_SCRIPT");
  BOOST_REQUIRE_MESSAGE(script, "HONE_TEST_SIGV4_SCRIPT is not set");
  // Debian's python3-botocore is in /usr/bin/python3; another python3 first on PATH may lack it.
  std::string output;
  std::string used;
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    const std::string cmd = std::string(python) + " '" + script + "' 600 20240115 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) continue;
    output.clear();
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p.get())) > 0;) output.append(buf, n);
    if (::pclose(p.release()) == 0) {
      used = python;
      break;
    }
  }
  BOOST_REQUIRE_MESSAGE(!used.empty(), "botocore did not run (scripts/setup.sh installs python3-botocore): " + output);
  int count = 0;
  std::size_t at = 0;
  while (at < output.size()) {
    const auto end = output.find('\n', at);
    const auto j = nlohmann::json::parse(output.substr(at, end - at));
    at = end == std::string::npos ? output.size() : end + 1;
    s3::signing_input in;
    in.method = j["method"];
    const std::string key = j["key"];
    in.path = "/" + j["bucket"].get<std::string>() + (key.empty() ? "" : "/" + s3::uri_encode(key, true));
    BOOST_TEST(in.path == j["path"].get<std::string>());
    for (const auto& q : j["query"]) in.query.emplace_back(q[0], q[1]);
    for (const auto& h : j["headers"]) in.headers.emplace_back(h[0], h[1]);
    in.payload_hash = j["payload_hash"];
    BOOST_TEST(in.payload_hash == j["body_sha256"].get<std::string>());
    const auto s = s3::sign(in, j["access_key_id"].get<std::string>(), j["secret"].get<std::string>(),
                            j["region"].get<std::string>(), "s3", j["date"].get<std::string>());
    BOOST_TEST(s.canonical_request == j["canonical_request"].get<std::string>());
    BOOST_TEST(s.value == j["signature"].get<std::string>());
    ++count;
  }
  BOOST_TEST_MESSAGE(count << " random requests signed alike by botocore (" << used << ") and the signer");
  BOOST_TEST(count == 600);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(s3_xml)

BOOST_AUTO_TEST_CASE(list_objects_v2_page) {
  const std::string doc = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
<IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b=</NextContinuationToken>
<Contents><Key>p/a&amp;b &lt;1&gt;.db.gz</Key><LastModified>2024-01-15T14:30:22.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>123</Size></Contents>
<Contents><Key>p/caf&#233;&#x20AC;.db.gz</Key><LastModified>2024-01-16T00:00:00Z</LastModified><Size>0</Size><KeyMarker/></Contents>
</ListBucketResult>)";
  auto items = s3::xml_elements(doc, "Contents");
  BOOST_REQUIRE_EQUAL(items.size(), 2u);
  BOOST_TEST(s3::xml_text(items[0], "Key") == "p/a&b <1>.db.gz");
  BOOST_TEST(s3::xml_text(items[0], "Size") == "123");
  BOOST_TEST(s3::unquote(s3::xml_text(items[0], "ETag")) == "abc");
  BOOST_TEST(s3::xml_text(items[1], "Key") == "p/caf\xC3\xA9\xE2\x82\xAC.db.gz");
  BOOST_TEST(s3::xml_text(doc, "IsTruncated") == "true");
  BOOST_TEST(s3::xml_text(doc, "NextContinuationToken") == "a&b=");
  BOOST_TEST(s3::xml_text(doc, "Missing") == "");
  BOOST_TEST(s3::xml_elements(doc, "KeyMarker").size() == 1u);
  const auto t = s3::parse_time(s3::xml_text(items[0], "LastModified"));
  BOOST_TEST(std::chrono::system_clock::to_time_t(t) == 1705329022);
  BOOST_TEST(std::chrono::system_clock::to_time_t(s3::parse_time("Mon, 15 Jan 2024 14:30:22 GMT")) == 1705329022);
}

BOOST_AUTO_TEST_CASE(error_document) {
  const std::string doc =
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Key>k</Key></Error>";
  BOOST_TEST(s3::xml_text(doc, "Code") == "SlowDown");
  BOOST_TEST(s3::xml_text(doc, "Message") == "Please reduce your request rate.");
  BOOST_TEST(s3::xml_escape("a<b&\"c\">") == "a&lt;b&amp;&quot;c&quot;&gt;");
}

BOOST_AUTO_TEST_SUITE_END()
