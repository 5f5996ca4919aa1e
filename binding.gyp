{
  # Two builds of one addon. `krypton` is the one every process loads.
  # `krypton_test` also reads the test-only switches (KRYPTON_TEST_*); only
  # test children load it, so no environment of a production process can
  # turn a protection off.
  "target_defaults": {
    "sources": [
      "native/addon.cc",
      "native/napi_util.cc",
      "native/secure_memory.cc",
      "native/random_pool.cc",
      "native/aes_block.cc",
      "native/keystore.cc",
      "native/xaes.cc",
      "native/blob.cc",
      "native/blob_ops.cc",
      "native/key_wrap.cc",
      "native/hpke.cc",
      "native/hpke_recipient.cc",
      "native/lease.cc",
      "native/lease_message.cc",
      "native/hmac.cc",
      "native/ed25519.cc",
      "native/shamir.cc",
      "native/hardening.cc",
      "native/kat.cc",
      "native/bindings_keystore.cc",
      "native/bindings_blob.cc",
      "native/bindings_hpke.cc",
      "native/bindings_misc.cc"
    ],
    "dependencies": [
      "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
    ],
    "defines": [
      "NAPI_VERSION=8",
      "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED",
      "_FORTIFY_SOURCE=2"
    ],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
    "cflags": [
      "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
      "-fvisibility=hidden", "-fstack-protector-strong", "-fno-strict-aliasing"
    ],
    "cflags_cc": ["-std=c++20", "-fvisibility-inlines-hidden"],
    "ldflags": ["-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack"]
  },
  "targets": [
    { "target_name": "krypton" },
    { "target_name": "krypton_test", "defines": ["KRYPTON_TEST_HOOKS"] }
  ]
}
