import { expectError, expectType } from 'tsd';
import { onDrain, onShutdown, requestMasterClose } from '../dist/index.js';

expectType<Promise<void>>(requestMasterClose(true));
expectType<Promise<void>>(requestMasterClose());
expectError(requestMasterClose('true'));
expectError(requestMasterClose(true, 1));

expectType<void>(onShutdown(async () => {}));
expectType<void>(onShutdown(() => {}));
expectType<void>(onShutdown(() => 1));
expectError(onShutdown(1));
expectError(onShutdown());
expectError(onShutdown((done: () => void) => done()));

expectType<void>(onDrain(async () => {}));
expectError(onDrain('close'));
