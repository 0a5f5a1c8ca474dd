;; write: creates (or truncates) the `path` argument relative to the first preopen (fd 3) and writes
;; "hello\n" to it; reports the WASI errnos as {"open": n, "write": n|null} (null: not attempted).
;; The path is whatever stands between the 3rd and 4th '"' of stdin.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 160) "null")
  (data (i32.const 96) "{\"open\": ")
  (data (i32.const 112) ", \"write\": ")
  (data (i32.const 128) "}")
  (data (i32.const 144) "hello\n")
  (global $arg_ptr (mut i32) (i32.const 0))
  (global $arg_len (mut i32) (i32.const 0))
  ;; reads stdin into 4096.. and returns its length
  (func $read_stdin (result i32)
    (local $total i32)
    (block $done
      (loop $more
        (i32.store (i32.const 0) (i32.add (i32.const 4096) (local.get $total)))
        (i32.store (i32.const 4) (i32.sub (i32.const 61440) (local.get $total)))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
        (br $more)))
    (local.get $total))
  ;; sets $arg_ptr/$arg_len to the text between the 3rd and 4th '"' of stdin
  (func $find_arg (param $len i32)
    (local $i i32) (local $quotes i32)
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.eq (i32.load8_u (i32.add (i32.const 4096) (local.get $i))) (i32.const 34))
          (then
            (local.set $quotes (i32.add (local.get $quotes) (i32.const 1)))
            (if (i32.eq (local.get $quotes) (i32.const 3))
              (then (global.set $arg_ptr (i32.add (i32.const 4097) (local.get $i)))))
            (if (i32.eq (local.get $quotes) (i32.const 4))
              (then
                (global.set $arg_len (i32.sub (i32.add (i32.const 4096) (local.get $i)) (global.get $arg_ptr)))
                (br $done)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan))))
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
  ;; writes the decimal form of $n (>= 0), or null when $n < 0
  (func $write_num (param $n i32)
    (local $p i32)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $write_all (i32.const 1) (i32.const 160) (i32.const 4)) (return)))
    (local.set $p (i32.const 232))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (call $write_all (i32.const 1) (local.get $p) (i32.sub (i32.const 232) (local.get $p))))
  (func (export "_start")
    (local $open i32) (local $write i32)
    (call $find_arg (call $read_stdin))
    (local.set $write (i32.const -1))
    (local.set $open
      (call $path_open (i32.const 3) (i32.const 1) (global.get $arg_ptr) (global.get $arg_len)
        (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (i32.eqz (local.get $open))
      (then
        (i32.store (i32.const 0) (i32.const 144))
        (i32.store (i32.const 4) (i32.const 6))
        (local.set $write
          (call $fd_write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))))
    (call $write_all (i32.const 1) (i32.const 96) (i32.const 9))
    (call $write_num (local.get $open))
    (call $write_all (i32.const 1) (i32.const 112) (i32.const 11))
    (call $write_num (local.get $write))
    (call $write_all (i32.const 1) (i32.const 128) (i32.const 1))))
