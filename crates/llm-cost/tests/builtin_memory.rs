//! What the built-in price table costs in heap: counted by a global allocator that tracks live
//! bytes. Its rows stay text until a model is looked up (parsing all of them held 3.3 MB).

use std::alloc::System;

use cap::Cap;
use llm_cost::PriceTable;

/// Counts live heap bytes.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

#[test]
fn the_builtin_table_holds_little_heap_until_rows_are_used() {
    let before = ALLOCATOR.allocated();
    let table = PriceTable::builtin();
    let price = table.get("gpt-4o-mini").expect("a built-in row");
    assert!(price.rate("input_cost_per_token").is_some());
    let resolved = table.resolve("openai/gpt-4o-mini", &Default::default()).unwrap();
    assert_eq!(resolved.key, "gpt-4o-mini");
    let held = ALLOCATOR.allocated() - before;
    println!("built-in price table: {held} bytes of heap");
    assert!(held < 400_000, "the built-in table holds {held} bytes");
}
