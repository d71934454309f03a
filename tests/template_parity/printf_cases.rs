//! `printf`, `print` and `println`: every verb the engine implements, with widths, precisions,
//! flags, argument indexes and Go's `%!` markers for mismatched or missing arguments.

use super::{Case, bare, full, rich};

pub const PRINTF_CASES: &[Case] = &[
    // %s and %v of each kind of value.
    full("printf %s kinds", r#"{{ printf "%s|%s|%s|%s" "a" 5 true 1.5 }}"#),
    full("printf %v kinds", r#"{{ printf "%v|%v|%v|%v|%v" "a" 5 true 1.5 -7 }}"#),
    full("printf %v containers", r#"{{ printf "%v %v %v" .PodMeta.Labels .NodeSpec.PodCIDRs .PodMeta.Finalizers }}"#),
    full("printf %s slice", r#"{{ printf "%s|%q|%x" .NodeSpec.PodCIDRs .NodeSpec.PodCIDRs .NodeSpec.PodCIDRs }}"#),
    full("printf %d slice", r#"{{ printf "%d" .NodeSpec.PodCIDRs }}"#),
    full("printf %v time", r#"{{ printf "%v|%s" .PodMeta.CreationTimestamp .PodMeta.CreationTimestamp }}"#),
    full("printf %d time", r#"{{ printf "%d" .PodMeta.CreationTimestamp }}"#),
    full("printf %v uid", r#"{{ printf "%v|%s|%q|%x" .PodMeta.UID .PodMeta.UID .PodMeta.UID .PodMeta.UID }}"#),
    full("printf %+v %#v scalars", r#"{{ printf "%+v|%#v|%#v|%#v|%#v" "a" "a" 5 true 1.5 }}"#),
    full("printf %#v named", r#"{{ printf "%#v|%#v" .PodMeta.UID .PodMeta.Generation }}"#),
    full("printf %#v map and slice", r#"{{ printf "%#v|%#v" .PodMeta.Labels .NodeSpec.PodCIDRs }}"#),
    full("printf %T", r#"{{ printf "%T|%T|%T|%T|%T|%T" "a" 1 1.5 true .PodMeta.UID .PodMeta.Labels }}"#),
    full(
        "printf %T more",
        r#"{{ printf "%T|%T|%T" .PodMeta.Generation .NodeSpec.PodCIDRs .PodMeta.CreationTimestamp }}"#,
    ),
    // Integers.
    full("printf %d widths", r#"{{ printf "[%d][%5d][%-5d][%05d][%+d][% d][%+05d][%-05d]" 42 42 42 42 42 42 42 42 }}"#),
    full("printf %d negative", r#"{{ printf "[%d][%5d][%05d][% d][%x][%X][%o][%b]" -42 -42 -42 -42 -42 -42 -42 -5 }}"#),
    full("printf %d precision", r#"{{ printf "[%.3d][%6.3d][%-6.3d][%.0d][%.0d][%06.3d]" 7 7 7 0 1 7 }}"#),
    full("printf %x %X", r#"{{ printf "%x %X %#x %#X %08x %-8x|" 3054 3054 3054 3054 3054 255 }}"#),
    full("printf %o %O %b", r#"{{ printf "%o %#o %O %b %#b %08b" 8 8 8 5 5 5 }}"#),
    full("printf %c", r#"{{ printf "%c%c%c|%3c|%-3c|" 65 233 128512 66 67 }}"#),
    full("printf %q int", r#"{{ printf "%q %q %+q %#q" 97 10 233 96 }}"#),
    full("printf %U", r#"{{ printf "%U %#U %U" 65 233 128512 }}"#),
    full(
        "printf int64 field",
        r#"{{ printf "%d %x %5d %v %s" .PodMeta.Generation .PodMeta.Generation 3 .PodMeta.Generation .PodMeta.Generation }}"#,
    ),
    full(
        "printf big numbers",
        r#"{{ printf "%d %d %x" 9223372036854775807 -9223372036854775808 18446744073709551615 }}"#,
    ),
    // Strings.
    full(
        "printf %s widths",
        r#"{{ printf "[%s][%8s][%-8s][%.2s][%8.3s][%-8.3s][%08s]" "abcde" "abcde" "abcde" "abcde" "abcde" "abcde" "ab" }}"#,
    ),
    full("printf %s unicode", r#"{{ printf "[%5s][%.2s][%-4s]" "héé" "héé" "é" }}"#),
    full("printf %q strings", r#"{{ printf "%q|%+q|%#q|%#q|%q" "a\"b" "héllo" "back" "a`b" "tab\there" }}"#),
    full("printf %q width", r#"{{ printf "[%8q][%-8q][%.2q]" "ab" "ab" "abcd" }}"#),
    full("printf %x strings", r#"{{ printf "%x|%X|% x|%#x|%# x|%.1x|%8x" "hé" "hé" "abc" "abc" "abc" "abc" "ab" }}"#),
    full("printf %d string", r#"{{ printf "%d|%c|%e|%t|%b" "x" "x" "x" "x" "x" }}"#),
    // Floats.
    full(
        "printf %f",
        r#"{{ printf "[%f][%.2f][%8.3f][%-8.1f][%+.1f][%08.2f][% .1f][%.0f][%.0f]" 3.14159 3.14159 3.14159 3.14159 3.14159 -3.14159 2.5 2.5 3.5 }}"#,
    ),
    full("printf %e %E", r#"{{ printf "%e|%E|%.2e|%12.3e|%+e|%e" 1234.5678 1234.5678 0.000123 1234.5678 1.0 0.0 }}"#),
    full(
        "printf %g %G",
        r#"{{ printf "%g|%G|%.3g|%g|%g|%g|%g|%.0g|%#g" 1234.5678 1e-7 1234.5678 100000.0 1e21 1e20 0.0001 2.5 1.0 }}"#,
    ),
    full(
        "printf sharp floats",
        r#"{{ printf "%#g|%#.3g|%#g|%#e|%#.0e|%#f|%#.0f|%#v|%#G|%#g" 1.0 1.0 123456.0 1.0 2.0 1.0 2.0 1.5 1e-7 0.0 }}"#,
    ),
    full(
        "printf hex float precision",
        r#"{{ printf "%.2x|%.0x|%.3X|%.1x|%.2x|%x|%.20x" 1.0 1.5 3.14159 0.0 -2.96875 5e-324 1.0 }}"#,
    ),
    full("printf sharp hex float", r#"{{ printf "%#x|%#X|%#.2x" 1.0 2.5 1.0 }}"#),
    full("printf %+q and backquotes", r#"{{ printf "%+q|%#+q|%#q|%+q|%#q" "😀 é" "é" "ab" 128512 "tab	ok" }}"#),
    full("printf %v floats", r#"{{ printf "%v %v %v %v %v" 0.1 1e6 1e21 123456789.0 -0.0 }}"#),
    full("printf %x float", r#"{{ printf "%x|%X|%b" 1.5 1.5 1.0 }}"#),
    full("printf %d float", r#"{{ printf "%d|%s|%q|%c" 1.5 1.5 1.5 1.5 }}"#),
    full("printf int as float", r#"{{ printf "%f|%e|%g" 1 2 3 }}"#),
    // Booleans.
    full("printf %t", r#"{{ printf "%t|%v|%6t|%-6t|%s|%d" true false true false true true }}"#),
    // Percent, widths from arguments, argument indexes.
    full("printf percent", r#"{{ printf "100%%|%5%|%-5%|%" }}"#),
    full("printf star width", r#"{{ printf "[%*d][%-*d][%*d][%.*f]" 5 42 5 42 -5 42 2 3.14159 }}"#),
    full("printf bad width", r#"{{ printf "[%*d][%.*d]" "x" 1 "y" 2 }}"#),
    full("printf big width", r#"{{ printf "[%*d]" 10000000 1 }}"#),
    full("printf arg index", r#"{{ printf "%[2]s %[1]s %s|%[1]d" "a" "b" }}"#),
    full("printf bad arg index", r#"{{ printf "%[3]s|%[0]d|%[x]d" "a" }}"#),
    full("printf no verb", r#"{{ printf "abc%" }}|{{ printf "%-" 1 }}"#),
    full("printf unknown verb", r#"{{ printf "%z %y %k" 1 "a" true }}"#),
    full("printf missing", r#"{{ printf "%s %s %d" "a" }}"#),
    full("printf extra", r#"{{ printf "x" 1 "b" true }}|{{ printf "%d" 1 2.5 }}"#),
    full("printf no args", "{{ printf }}"),
    full("printf only format", r#"{{ printf "plain" }}"#),
    full("printf nil", r#"{{ printf "%s|%d|%v|%q" nil nil nil nil }}"#),
    full(
        "printf missing key verbs",
        r#"{{ printf "%v|%d|%q|%x" .PodMeta.Labels.no .PodMeta.Labels.no .PodMeta.Labels.no .PodMeta.Labels.no }}"#,
    ),
    full("printf format from field", r#"{{ printf .PodMeta.Name }}"#),
    full("printf format from label", r#"{{ printf .PodMeta.Labels.app 1 }}"#),
    full("printf format missing", r#"{{ printf .PodMeta.Labels.nope }}"#),
    full("printf format int", "{{ printf 5 }}"),
    // Pointers: nil ones print <nil>; set ones print their address in Go.
    full(
        "printf nil pointers",
        r#"{{ printf "%v|%d|%s" .PodSpec.Priority .PodSpec.Priority .PodSpec.AutomountServiceAccountToken }}"#,
    ),
    full(
        "printf nil struct pointer",
        r#"{{ printf "%v|%s|%d" .PodSpec.SecurityContext .PodSpec.SecurityContext .PodSpec.SecurityContext }}"#,
    ),
    full(
        "printf nil pointer verbs",
        r#"{{ printf "%x|%#x|%5v|%-6d|%o|%t" .PodSpec.Priority .PodSpec.Priority .PodSpec.Priority .PodSpec.Priority .PodSpec.Priority .PodSpec.Priority }}"#,
    ),
    full(
        "printf nil time pointer",
        r#"{{ printf "%s|%d|%5v|%q|" .PodMeta.DeletionTimestamp .PodMeta.DeletionTimestamp .PodMeta.DeletionTimestamp .PodMeta.DeletionTimestamp }}"#,
    ),
    rich("printf set pointer", r#"{{ printf "%v" .PodSpec.Priority }}"#),
    rich("printf set time pointer", r#"{{ printf "%v" .PodMeta.DeletionTimestamp }}"#),
    // print and println.
    full("print mixed", r#"{{ print "a" 1 2 "b" true false 1.5 "c" }}"#),
    full("print nothing", "[{{ print }}][{{ println }}]"),
    full("print nil", "{{ print nil }}|{{ print nil nil }}|{{ print 1 nil }}"),
    full("print map and slice", "{{ print .PodMeta.Labels .NodeSpec.PodCIDRs }}"),
    full("print named", "{{ print .PodMeta.UID .PodMeta.Generation }}"),
    full("print time", "{{ print .PodMeta.CreationTimestamp }}"),
    full("println", r#"{{ println "a" 1 "b" }}|{{ println .PodMeta.Labels.nope }}"#),
    full("print nil pointer", "{{ print .PodSpec.Priority }}|{{ print .PodSpec.SecurityContext }}"),
    rich("print set pointer", "{{ print .PodSpec.Priority }}"),
    bare(
        "printf zero values",
        r#"{{ printf "%q|%d|%v|%v" .PodMeta.Name .PodMeta.Generation .PodMeta.Labels .NodeSpec.PodCIDRs }}"#,
    ),
    rich("printf rich", r#"{{ printf "%s/%s:%d" .PodMeta.Namespace .PodMeta.Name .PodMeta.Generation }}"#),
];
