;; leak: prints the conformance LEAK object (credentials among plain data) as its JSON result.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\22api_key\22: \22correct-horse-battery\22, \22log\22: \22authenticated with ghp_R4nd0mL00k1ngT0k3nV4lu3F0rT3sts0001\22, \22count\22: 3, \22note\22: \22nothing to hide here\22}\0a\00")
  ;; writes [ptr, ptr+len) to fd, however many fd_write calls it takes (iovec at 0, count at 8)
  (func $write_all (param $fd i32) (param $ptr i32) (param $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $len))
        (br_if $done (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
        (br $more))))
  ;; the length of the NUL-terminated string at p
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more)))
    (local.get $n))
  (func (export "_start")
    (call $write_all (i32.const 1) (i32.const 64) (call $strlen (i32.const 64)))))
